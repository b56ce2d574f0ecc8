// The transport graph: the server's picture (the notebook widget's), coloured live, with pan and zoom.

import {api} from "./api.js";
import {fill, h} from "./dom.js";

const MIN_ZOOM = 0.05;
const MAX_ZOOM = 40;

/** The status a box of several nodes shows (as the widget's group_status): from its members' counts. */
export function groupStatus(counts) {
  const has = (s) => (counts.get(s) || 0) > 0;
  if (has("FAILED") || has("POSTPROCESSING_FAILED")) return "FAILED";
  if (has("RUNNING") || has("POSTPROCESSING")) return "RUNNING";
  const present = [...counts].filter(([, n]) => n > 0).map(([s]) => s);
  if (present.length === 1) return present[0];
  if (!present.length) return "NEW_OBJECT";
  return has("CANCELLED") ? "CANCELLED" : "RUNNING";
}

export class GraphView {
  /** ``onPick(members, key)``: a box was clicked. */
  constructor(container, dispatchId, onPick) {
    this.container = container;
    this.dispatchId = dispatchId;
    this.onPick = onPick;
    this.boxes = new Map();   // key -> {el, members, kind, counts, dirty}
    this.boxOf = new Map();   // node id -> key
    this.svg = null;
    this.view = null;         // the viewBox: {x, y, w, h}
    this.home = null;
  }

  async load(statuses) {
    let text;
    try {
      text = await api.text(`dispatches/${encodeURIComponent(this.dispatchId)}/graph.svg`);
    } catch (error) {
      fill(this.container, h("p", {class: "muted graph-message"}, `No graph: ${error.message}`));
      return;
    }
    const parsed = new DOMParser().parseFromString(text, "image/svg+xml").documentElement;
    if (parsed.nodeName !== "svg") {
      fill(this.container, h("p", {class: "muted graph-message"}, "No graph: the picture could not be read"));
      return;
    }
    const svg = document.importNode(parsed, true);
    svg.removeAttribute("width");
    svg.removeAttribute("height");
    svg.setAttribute("preserveAspectRatio", "xMidYMid meet");
    svg.classList.add("graph-svg");
    const [x, y, w, hgt] = (svg.getAttribute("viewBox") || "0 0 100 100").split(/[\s,]+/).map(Number);
    this.home = {x, y, w, h: hgt};
    this.view = {...this.home};
    for (const el of svg.querySelectorAll("g.node[data-members]")) {
      const members = el.dataset.members.split(" ").map(Number);
      const box = {el, members, kind: el.dataset.kind, counts: new Map(), dirty: true};
      const key = Number(el.id.replace("cnb-node-", ""));
      this.boxes.set(key, box);
      for (const m of members) {
        this.boxOf.set(m, key);
        const status = statuses.get(m) || "NEW_OBJECT";
        box.counts.set(status, (box.counts.get(status) || 0) + 1);
      }
    }
    this.svg = svg;
    const tools = h("div", {class: "graph-tools"},
      h("button", {type: "button", title: "zoom in", onclick: () => this.zoomBy(1.25)}, "+"),
      h("button", {type: "button", title: "zoom out", onclick: () => this.zoomBy(0.8)}, "−"),
      h("button", {type: "button", title: "fit the graph", onclick: () => this.fit()}, "Fit"));
    fill(this.container, svg, tools);
    this.home = this.naturalSize(this.home);
    this.view = {...this.home};
    this.applyView();
    this.listen();
    this.redraw();
  }

  /** A node changed status: its box is drawn again at the next redraw. */
  update(nodeId, before, after) {
    const box = this.boxes.get(this.boxOf.get(nodeId));
    if (!box || before === after) return;
    if (before) box.counts.set(before, Math.max(0, (box.counts.get(before) || 0) - 1));
    box.counts.set(after, (box.counts.get(after) || 0) + 1);
    box.dirty = true;
  }

  redraw() {
    for (const box of this.boxes.values()) {
      if (!box.dirty) continue;
      box.dirty = false;
      if (box.kind !== "parameter") box.el.dataset.status = groupStatus(box.counts);
    }
  }

  select(nodeId) {
    for (const el of this.container.querySelectorAll("g.node.selected")) el.classList.remove("selected");
    const box = this.boxes.get(this.boxOf.get(nodeId));
    if (box) box.el.classList.add("selected");
  }

  /** A small picture at its natural size (dot's points, 96 per inch) in the middle, not blown up to the box. */
  naturalSize(view) {
    const rect = this.container.getBoundingClientRect();
    const width = rect.width * 0.75;
    const height = rect.height * 0.75;
    if (!width || !height || view.w >= width || view.h >= height) return view;
    return {x: view.x - (width - view.w) / 2, y: view.y - (height - view.h) / 2, w: width, h: height};
  }

  applyView() {
    const v = this.view;
    this.svg.setAttribute("viewBox", `${v.x} ${v.y} ${v.w} ${v.h}`);
  }

  fit() {
    this.view = {...this.home};
    this.applyView();
  }

  /** The point of the picture under a mouse position. */
  toPicture(clientX, clientY) {
    const point = this.svg.createSVGPoint();
    point.x = clientX;
    point.y = clientY;
    const matrix = this.svg.getScreenCTM();
    return matrix ? point.matrixTransform(matrix.inverse()) : {x: this.view.x + this.view.w / 2, y: this.view.y + this.view.h / 2};
  }

  zoomBy(factor, clientX, clientY) {
    const zoom = this.home.w / (this.view.w / factor);
    if (zoom < MIN_ZOOM || zoom > MAX_ZOOM) return;
    const rect = this.svg.getBoundingClientRect();
    const c = this.toPicture(clientX ?? rect.left + rect.width / 2, clientY ?? rect.top + rect.height / 2);
    const v = this.view;
    this.view = {x: c.x - (c.x - v.x) / factor, y: c.y - (c.y - v.y) / factor, w: v.w / factor, h: v.h / factor};
    this.applyView();
  }

  /** Picture units per screen pixel (the picture is fitted, "meet", in its box). */
  scale() {
    const rect = this.svg.getBoundingClientRect();
    return Math.max(this.view.w / (rect.width || 1), this.view.h / (rect.height || 1));
  }

  listen() {
    const svg = this.svg;
    svg.addEventListener("wheel", (event) => {
      event.preventDefault();
      this.zoomBy(event.deltaY < 0 ? 1.15 : 1 / 1.15, event.clientX, event.clientY);
    }, {passive: false});
    let drag = null;
    svg.addEventListener("pointerdown", (event) => {
      if (event.button !== 0) return;
      drag = {x: event.clientX, y: event.clientY, view: {...this.view}, scale: this.scale(), moved: false};
    });
    svg.addEventListener("pointermove", (event) => {
      if (!drag) return;
      const dx = event.clientX - drag.x;
      const dy = event.clientY - drag.y;
      if (!drag.moved && Math.hypot(dx, dy) < 4) return;
      if (!drag.moved) svg.setPointerCapture(event.pointerId);
      drag.moved = true;
      svg.classList.add("dragging");
      this.view = {...drag.view, x: drag.view.x - dx * drag.scale, y: drag.view.y - dy * drag.scale};
      this.applyView();
    });
    const end = (event) => {
      if (!drag) return;
      const moved = drag.moved;
      drag = null;
      svg.classList.remove("dragging");
      if (moved || event.type !== "pointerup") return;
      const el = event.target.closest("g.node[data-members]");
      if (el) this.onPick(el.dataset.members.split(" ").map(Number), Number(el.id.replace("cnb-node-", "")));
    };
    svg.addEventListener("pointerup", end);
    svg.addEventListener("pointercancel", end);
  }
}
