/**
 * The events WebSocket, connected again whenever it closes, with a growing
 * delay (1 s, doubling up to 30 s; back to 1 s once a connection opens).
 */
import { IDisposable } from '@lumino/disposable';

import { IDispatchEvent } from './api';

const FIRST_DELAY_MS = 1000;
const MAX_DELAY_MS = 30000;

/** What an `EventConnection` tells its owner. */
export interface IEventHandlers {
  /** A status event arrived. */
  event(event: IDispatchEvent): void;
  /** The socket opened (`true`; events may have been missed before) or closed (`false`). */
  connected(open: boolean): void;
}

/** A WebSocket of dispatch events that reconnects by itself until disposed. */
export class EventConnection implements IDisposable {
  constructor(
    private readonly url: () => string,
    private readonly handlers: IEventHandlers,
    private readonly makeSocket: (url: string) => WebSocket = url => new WebSocket(url)
  ) {}

  get isDisposed(): boolean {
    return this._disposed;
  }

  /** Open the socket (once; later closes reconnect by themselves). */
  connect(): void {
    if (this._disposed || this._socket !== null) {
      return;
    }
    const socket = (this._socket = this.makeSocket(this.url()));
    socket.onopen = () => {
      this._delay = FIRST_DELAY_MS;
      this.handlers.connected(true);
    };
    socket.onmessage = message => {
      let event: IDispatchEvent;
      try {
        event = JSON.parse(String(message.data));
      } catch {
        return; // not an event of ours
      }
      if (event && typeof event.dispatch_id === 'string') {
        this.handlers.event(event);
      }
    };
    socket.onclose = () => {
      this._socket = null;
      if (this._disposed) {
        return;
      }
      this.handlers.connected(false);
      this._retry = window.setTimeout(() => this.connect(), this._delay);
      this._delay = Math.min(this._delay * 2, MAX_DELAY_MS);
    };
  }

  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    window.clearTimeout(this._retry);
    this._socket?.close();
    this._socket = null;
  }

  private _socket: WebSocket | null = null;
  private _delay = FIRST_DELAY_MS;
  private _retry = 0;
  private _disposed = false;
}
