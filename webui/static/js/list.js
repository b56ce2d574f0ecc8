// The dispatch list: newest first, filtered by status, searched by name or id prefix, paged, live.

import {api} from "./api.js";
import {badge, duration, fill, formatTime, h, progressBar, TERMINAL} from "./dom.js";
import {EventStream, throttle} from "./live.js";

const PAGE_SIZE = 50;
const FILTERS = [["", "all statuses"], ["RUNNING", "running"], ["COMPLETED", "completed"], ["FAILED", "failed"],
  ["CANCELLED", "cancelled"], ["NEW_OBJECT", "pending"]];

/** Render the list into ``main`` (``query``: the hash's status and search); returns what stops it. */
export function listPage(main, query) {
  const state = {status: query.get("status") || "", search: query.get("search") || "", cursors: [null], page: 0};
  const select = h("select", {id: "status-filter", "aria-label": "status"},
    FILTERS.map(([value, label]) => h("option", {value, selected: value === state.status}, label)));
  const search = h("input", {id: "search", type: "search", placeholder: "name or id", value: state.search,
    "aria-label": "search by name or id"});
  const total = h("span", {class: "muted", id: "total"});
  const body = h("tbody");
  const newer = h("button", {type: "button", id: "newer"}, "← Newer");
  const older = h("button", {type: "button", id: "older"}, "Older →");
  const position = h("span", {class: "muted", id: "position"});
  const error = h("p", {class: "error", hidden: true});
  fill(main,
    h("div", {class: "toolbar"}, h("h1", {}, "Dispatches"), select, search, total),
    error,
    h("table", {class: "list", id: "dispatches"},
      h("thead", {}, h("tr", {}, ["Name", "ID", "Status", "Tasks", "Created", "Started", "Ended", "Duration"]
        .map((title) => h("th", {}, title)))),
      body),
    h("div", {class: "pager"}, newer, position, older));

  let items = [];
  let next = null;
  let stopped = false;
  let loading = 0;

  async function load() {
    const asked = ++loading;
    const params = new URLSearchParams({limit: PAGE_SIZE, count: 1});
    if (state.status) params.set("status", state.status);
    if (state.search.trim()) params.set("search", state.search.trim());
    const cursor = state.cursors[state.page];
    if (cursor) params.set("before", cursor);
    try {
      const answer = await api.get(`dispatches?${params}`);
      if (stopped || asked !== loading) return;  // a newer question is on its way
      items = answer.dispatches;
      next = answer.next;
      error.hidden = true;
      total.textContent = `${answer.total.toLocaleString()} dispatch${answer.total === 1 ? "" : "es"}`;
      const first = state.page * PAGE_SIZE;
      position.textContent = items.length ? `${first + 1}–${first + items.length} of ${answer.total.toLocaleString()}` : "";
      newer.disabled = state.page === 0;
      older.disabled = !next;
      draw();
    } catch (failure) {
      if (stopped) return;
      error.hidden = false;
      error.textContent = `Could not list the dispatches: ${failure.message}`;
    }
  }

  function draw() {
    fill(body, items.length ? items.map(row) : h("tr", {}, h("td", {colspan: 8, class: "muted"}, "No dispatches.")));
  }

  function row(d) {
    const link = `#/dispatches/${encodeURIComponent(d.id)}`;
    return h("tr", {"data-id": d.id, "data-status": d.status},
      h("td", {}, h("a", {href: link, class: "name"}, d.name)),
      h("td", {}, h("a", {href: link, class: "id", title: d.id}, d.id.slice(0, 8))),
      h("td", {}, badge(d.status)),
      h("td", {}, progressBar(d.task_progress || {})),
      h("td", {}, formatTime(d.created)),
      h("td", {}, formatTime(d.start_time)),
      h("td", {}, formatTime(d.end_time)),
      h("td", {class: "duration", "data-start": d.start_time ?? "", "data-running": TERMINAL.has(d.status) ? "" : "1"},
        duration(d.start_time, d.end_time)));
  }

  function remember() {  // the filters in the address, without a new history entry or a new render
    const params = new URLSearchParams();
    if (state.status) params.set("status", state.status);
    if (state.search.trim()) params.set("search", state.search.trim());
    history.replaceState(null, "", `#/${params.toString() ? "?" + params : ""}`);
  }

  function restart() {
    state.cursors = [null];
    state.page = 0;
    remember();
    load();
  }

  select.addEventListener("change", () => { state.status = select.value; restart(); });
  let typing = null;
  search.addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(() => { state.search = search.value; restart(); }, 250);
  });
  older.addEventListener("click", () => {
    if (!next) return;
    state.cursors[state.page + 1] = next;
    state.page += 1;
    load();
  });
  newer.addEventListener("click", () => {
    if (state.page === 0) return;
    state.page -= 1;
    load();
  });

  // Live: any event of the user's dispatches asks the current page again, at most once a second.
  const refresh = throttle(load, 1000);
  const stream = new EventStream(null, () => refresh());
  const ticker = setInterval(() => {  // running dispatches' durations
    for (const cell of body.querySelectorAll("td.duration[data-running='1']")) {
      if (cell.dataset.start) cell.textContent = duration(Number(cell.dataset.start), null);
    }
  }, 1000);
  load();
  return () => {
    stopped = true;
    refresh.cancel();
    stream.close();
    clearInterval(ticker);
    clearTimeout(typing);
  };
}
