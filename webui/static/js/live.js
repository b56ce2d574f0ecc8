// Live updates: the event WebSocket, reconnecting, and redraws at most a few times a second.

import {eventsUrl} from "./api.js";

const stateEl = () => document.getElementById("live-state");

/** Call ``fn`` at most once every ``interval`` ms, however often ``schedule()`` is called (the last call wins). */
export function throttle(fn, interval) {
  let timer = null;
  let last = 0;
  const run = () => {
    const early = last + interval - performance.now();
    if (early > 0) {  // a timer may fire a fraction of a millisecond early
      timer = setTimeout(run, Math.ceil(early));
      return;
    }
    timer = null;
    last = performance.now();
    fn();
  };
  const schedule = () => {
    if (timer !== null) return;
    timer = setTimeout(run, Math.max(0, Math.ceil(last + interval - performance.now())));
  };
  schedule.cancel = () => { clearTimeout(timer); timer = null; };
  return schedule;
}

/** The events of one dispatch (or all of the user's): ``onEvent`` for each, a snapshot first. */
export class EventStream {
  constructor(dispatchId, onEvent) {
    this.dispatchId = dispatchId;
    this.onEvent = onEvent;
    this.socket = null;
    this.closed = false;
    this.delay = 500;
    this.connect();
  }

  connect() {
    if (this.closed) return;
    const socket = new WebSocket(eventsUrl(this.dispatchId));
    this.socket = socket;
    socket.onopen = () => { this.delay = 500; showState("live"); };
    socket.onmessage = (message) => {
      try {
        this.onEvent(JSON.parse(message.data));
      } catch (error) {
        console.error("covalent-nb: an event could not be shown", error);
      }
    };
    socket.onclose = () => {
      if (this.closed) return;
      showState("reconnecting");
      setTimeout(() => this.connect(), this.delay);
      this.delay = Math.min(this.delay * 2, 10000);
    };
  }

  close() {
    this.closed = true;
    if (this.socket) this.socket.close();
    showState("");
  }
}

function showState(state) {
  const el = stateEl();
  if (!el) return;
  el.dataset.state = state;
  el.textContent = state === "live" ? "● live" : state === "reconnecting" ? "○ reconnecting…" : "";
}
