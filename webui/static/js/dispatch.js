// A dispatch's page: header, live graph, task table, task details and actions.

import {api} from "./api.js";
import {badge, confirmDialog, duration, fill, formatTime, h, progressBar, snippet, TERMINAL} from "./dom.js";
import {GraphView} from "./graph.js";
import {isUserTask, nodeLabel, nodeRole} from "./kinds.js";
import {EventStream, throttle} from "./live.js";
import {showTask} from "./task.js";

const REDRAW_MS = 110;   // at most 10 redraws a second (with a margin), however many events come
const TABLE_PAGE = 100;
const STATUS_RANK = {FAILED: 0, RUNNING: 1, POSTPROCESSING: 1, NEW_OBJECT: 2, PENDING_REUSE: 2, STARTING: 2,
  CANCELLED: 3, COMPLETED: 4};

export class DispatchPage {
  constructor(main, dispatchId, nodeId) {
    this.main = main;
    this.id = dispatchId;
    this.selected = nodeId;
    this.statuses = new Map();
    this.times = new Map();
    this.nodes = new Map();
    this.sort = {key: "id", descending: false};
    this.tablePage = 0;
    this.allNodes = false;
    this.group = null;  // node ids of a picked box of several nodes
    this.stream = null;
    this.stopped = false;
    this.dirty = {header: true, table: true, details: false};
    this.redrawSoon = throttle(() => this.redraw(), REDRAW_MS);
    this.start();
  }

  async start() {
    fill(this.main, h("p", {class: "muted"}, "Loading the dispatch…"));
    try {
      this.view = await api.get(`dispatches/${encodeURIComponent(this.id)}`);
    } catch (error) {
      fill(this.main, h("div", {class: "toolbar"}, h("a", {href: "#/"}, "← Dispatches")),
        h("p", {class: "error"}, `Could not open dispatch ${this.id}: ${error.message}`));
      return;
    }
    if (this.stopped) return;
    for (const node of this.view.nodes) {
      this.nodes.set(node.node_id, node);
      this.statuses.set(node.node_id, node.status);
      this.times.set(node.node_id, {start: node.start_time, end: node.end_time});
    }
    this.build();
    this.graph = new GraphView(this.graphEl, this.id, (members) => this.pickBox(members));
    const loading = this.graph.load(this.statuses).then(() => this.selected !== null && this.graph.select(this.selected));
    if (!TERMINAL.has(this.view.status)) this.follow();  // a finished dispatch opens no connection
    this.redraw();
    if (this.selected !== null) this.showDetails();
    await loading;
  }

  stop() {
    this.stopped = true;
    this.redrawSoon.cancel();
    if (this.stream) this.stream.close();
    clearInterval(this.ticker);
  }

  /** The route changed within this dispatch: another task (or none) is shown. */
  selectTask(nodeId) {
    if (nodeId === this.selected) return;
    this.selected = nodeId;
    if (this.graph) this.graph.select(nodeId);
    this.dirty.table = true;
    this.redrawSoon();
    this.showDetails();
  }

  // ---- building ------------------------------------------------------------------------

  build() {
    const v = this.view;
    this.statusEl = h("span");
    this.factsEl = h("div", {class: "facts-row"});
    this.actionsEl = h("div", {class: "actions"});
    this.graphEl = h("div", {class: "graph", id: "graph"});
    this.tableEl = h("div", {class: "tasks"});
    this.detailsEl = h("div", {class: "details", id: "task-details"},
      h("p", {class: "muted"}, "Pick a task in the graph or the table to see its details."));
    this.messageEl = h("p", {class: "error", hidden: true});
    fill(this.main,
      h("div", {class: "toolbar"}, h("a", {href: "#/"}, "← Dispatches")),
      h("div", {class: "dispatch-head"},
        h("h1", {}, v.name), this.statusEl, this.actionsEl),
      h("div", {class: "ids"}, h("span", {class: "muted"}, "id "), h("code", {id: "dispatch-id"}, v.id), " ",
        snippet(`ct.get_result("${v.id}")`),
        v.parent_id ? h("span", {}, " · sublattice of ",
          h("a", {href: `#/dispatches/${encodeURIComponent(v.parent_id)}`}, v.parent_id.slice(0, 8))) : null),
      this.factsEl, this.messageEl,
      h("div", {class: "split"},
        h("div", {class: "left"}, this.graphEl, this.tableEl),
        this.detailsEl));
    this.ticker = setInterval(() => {
      if (!TERMINAL.has(this.view.status)) { this.dirty.header = true; this.dirty.table = true; this.redrawSoon(); }
    }, 1000);
  }

  // ---- live -----------------------------------------------------------------------------

  follow() {
    this.stream = new EventStream(this.id, (event) => this.onEvent(event));
  }

  onEvent(event) {
    if (event.type === "snapshot") {
      this.setDispatchStatus(event.status);
      for (const [id, status] of Object.entries(event.nodes)) this.setNode(Number(id), status, null);
    } else if (event.type === "node") {
      this.setNode(event.node_id, event.status, event.time);
    } else if (event.type === "dispatch") {
      this.setDispatchStatus(event.status, event.time);
      if (event.terminal) this.finished();
    }
    this.redrawSoon();
  }

  setNode(nodeId, status, time) {
    const before = this.statuses.get(nodeId);
    if (before === status || !this.nodes.has(nodeId)) return;
    this.statuses.set(nodeId, status);
    const times = this.times.get(nodeId);
    if (time !== null) {
      if (status === "RUNNING") { times.start = time; times.end = null; }
      if (TERMINAL.has(status)) times.end = time;
    }
    if (this.graph) this.graph.update(nodeId, before, status);
    this.dirty.header = this.dirty.table = true;
    if (nodeId === this.selected) this.dirty.details = true;
  }

  setDispatchStatus(status, time) {
    if (this.view.status === status) return;
    this.view.status = status;
    if (status === "RUNNING" && time && !this.view.start_time) this.view.start_time = time;
    if (TERMINAL.has(status) && time) this.view.end_time = time;
    this.dirty.header = true;
  }

  async finished() {
    if (this.stream) { this.stream.close(); this.stream = null; }
    try {  // the stored view has the exact times and the error
      const view = await api.get(`dispatches/${encodeURIComponent(this.id)}`);
      if (this.stopped) return;
      this.view = view;
      for (const node of view.nodes) {
        this.setNode(node.node_id, node.status, null);
        this.times.set(node.node_id, {start: node.start_time, end: node.end_time});
      }
      this.dirty.header = this.dirty.table = true;
      this.dirty.details = this.selected !== null;
      this.redrawSoon();
    } catch (error) { /* the live view stays */ }
  }

  // ---- drawing ---------------------------------------------------------------------------

  redraw() {
    if (this.stopped) return;
    if (this.graph) this.graph.redraw();
    if (this.dirty.header) { this.dirty.header = false; this.drawHeader(); }
    if (this.dirty.table) { this.dirty.table = false; this.drawTable(); }
    if (this.dirty.details) { this.dirty.details = false; this.showDetails(); }
  }

  drawHeader() {
    const v = this.view;
    fill(this.statusEl, badge(v.status));
    const counts = {};
    for (const [id, node] of this.nodes) {
      if (!isUserTask(node.kind)) continue;
      const status = this.statuses.get(id);
      counts[status] = (counts[status] || 0) + 1;
    }
    fill(this.factsEl,
      h("span", {}, h("span", {class: "muted"}, "created "), formatTime(v.created)),
      h("span", {}, h("span", {class: "muted"}, "started "), formatTime(v.start_time)),
      h("span", {}, h("span", {class: "muted"}, "ended "), formatTime(TERMINAL.has(v.status) ? v.end_time : null)),
      h("span", {id: "dispatch-duration"}, h("span", {class: "muted"}, "duration "),
        duration(v.start_time, TERMINAL.has(v.status) ? v.end_time : null)),
      h("span", {id: "dispatch-progress"}, h("span", {class: "muted"}, "tasks "), progressBar(counts)));
    if (v.error) fill(this.messageEl, `Error: ${v.error}`);
    this.messageEl.hidden = !v.error;
    const done = TERMINAL.has(v.status);
    fill(this.actionsEl, done
      ? h("button", {type: "button", class: "danger", id: "delete-dispatch", onclick: () => this.remove()}, "Delete")
      : h("button", {type: "button", class: "danger", id: "cancel-dispatch", onclick: () => this.cancel(null)}, "Cancel"));
  }

  rows() {
    let ids = this.group || [...this.nodes.keys()].filter((id) => this.allNodes || isUserTask(this.nodes.get(id).kind));
    const key = this.sort.key;
    const value = (id) => {
      if (key === "status") return STATUS_RANK[this.statuses.get(id)] ?? 5;
      if (key === "duration") {
        const t = this.times.get(id);
        return t.start === null || t.start === undefined ? -1 : (t.end ?? Date.now() / 1000) - t.start;
      }
      return id;
    };
    ids = ids.map((id) => [value(id), id]).sort((a, b) => a[0] - b[0] || a[1] - b[1]).map(([, id]) => id);
    return this.sort.descending ? ids.reverse() : ids;
  }

  /** The table's parts that stay: its tools, its header (click to sort) and its body, drawn by drawTable. */
  buildTable() {
    const changed = () => { this.dirty.table = true; this.redrawSoon(); };  // redraws too go through the throttle
    this.headers = new Map();
    const header = (label, key) => {
      if (!key) return h("th", {}, label);
      const th = h("th", {class: "sortable", "data-sort": key, "data-label": label, onclick: () => {
        this.sort = {key, descending: this.sort.key === key ? !this.sort.descending : key === "duration"};
        changed();
      }}, label);
      this.headers.set(key, th);
      return th;
    };
    this.groupNote = h("span", {hidden: true}, h("span", {}), " ",
      h("button", {type: "button", class: "small", onclick: () => { this.group = null; changed(); }}, "show all"));
    this.allNodesLabel = h("label", {}, h("input", {type: "checkbox", id: "all-nodes", onchange: (event) => {
      this.allNodes = event.target.checked;
      changed();
    }}), " parameters and helpers too");
    this.previous = h("button", {type: "button", class: "small", onclick: () => { this.tablePage -= 1; changed(); }}, "←");
    this.next = h("button", {type: "button", class: "small", onclick: () => { this.tablePage += 1; changed(); }}, "→");
    this.pagePosition = h("span", {});
    this.pager = h("span", {class: "pager"}, this.previous, this.pagePosition, this.next);
    this.tbody = h("tbody");
    fill(this.tableEl, h("div", {class: "table-tools"}, this.groupNote, this.allNodesLabel, this.pager),
      h("table", {class: "list", id: "tasks"},
        h("thead", {}, h("tr", {}, header("#", "id"), header("Task"), header("Kind"), header("Status", "status"),
          header("Started"), header("Duration", "duration"))),
        this.tbody));
  }

  drawTable() {
    if (!this.tbody) this.buildTable();
    const ids = this.rows();
    const pages = Math.max(1, Math.ceil(ids.length / TABLE_PAGE));
    this.tablePage = Math.max(0, Math.min(this.tablePage, pages - 1));
    const shown = ids.slice(this.tablePage * TABLE_PAGE, (this.tablePage + 1) * TABLE_PAGE);
    for (const [key, th] of this.headers) {
      th.textContent = th.dataset.label + (this.sort.key === key ? (this.sort.descending ? " ▼" : " ▲") : "");
    }
    this.groupNote.hidden = !this.group;
    this.groupNote.firstChild.textContent = this.group ? `${this.group.length} nodes of one box` : "";
    this.allNodesLabel.hidden = Boolean(this.group);
    this.pager.hidden = pages < 2;
    this.previous.disabled = this.tablePage === 0;
    this.next.disabled = this.tablePage >= pages - 1;
    this.pagePosition.textContent = ` ${this.tablePage + 1} / ${pages} `;
    const link = (id) => `#/dispatches/${encodeURIComponent(this.id)}/tasks/${id}`;
    const body = shown.map((id) => {
      const node = this.nodes.get(id);
      const t = this.times.get(id);
      return h("tr", {"data-node": id, "data-status": this.statuses.get(id), class: id === this.selected ? "selected" : ""},
        h("td", {}, h("a", {href: link(id)}, String(id))),
        h("td", {}, h("a", {href: link(id)}, nodeLabel(node))),
        h("td", {class: "muted"}, nodeRole(node)),
        h("td", {}, badge(this.statuses.get(id))),
        h("td", {}, formatTime(t.start)),
        h("td", {}, duration(t.start, t.end)));
    });
    fill(this.tbody, body.length ? body : h("tr", {}, h("td", {colspan: 6, class: "muted"}, "No tasks.")));
  }

  pickBox(members) {
    if (members.length === 1) {
      location.hash = `#/dispatches/${encodeURIComponent(this.id)}/tasks/${members[0]}`;
      return;
    }
    this.group = members;
    this.tablePage = 0;
    this.dirty.table = true;
    this.redrawSoon();
  }

  async showDetails() {
    if (this.selected === null) return;
    const node = await showTask(this.detailsEl, this.id, this.selected, {cancel: (nodeId) => this.cancel([nodeId])});
    if (node && !this.stopped) this.setNode(node.node_id, node.status, null);
  }

  // ---- actions ---------------------------------------------------------------------------

  async cancel(taskIds) {
    try {
      await api.post(`dispatches/${encodeURIComponent(this.id)}/cancel`, {task_ids: taskIds});
    } catch (error) {
      this.flash(`Could not cancel: ${error.message}`);
    }
  }

  async remove() {
    const yes = await confirmDialog(`Delete dispatch "${this.view.name}" (${this.id}), its tasks' records and ` +
      "the stored values no other dispatch uses? This cannot be undone.", "Delete");
    if (!yes) return;
    try {
      await api.delete(`dispatches/${encodeURIComponent(this.id)}`);
      sessionStorage.setItem("cnb-flash", `Deleted dispatch ${this.view.name} (${this.id}).`);
      location.hash = "#/";
    } catch (error) {
      this.flash(`Could not delete: ${error.message}`);
    }
  }

  flash(message) {
    fill(this.messageEl, message);
    this.messageEl.hidden = false;
  }
}
