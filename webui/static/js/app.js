// The web UI's router: hash routes of one page. #/ list, #/dispatches/<id>[/tasks/<node>], #/executors, #/server.

import {fill, h} from "./dom.js";
import {DispatchPage} from "./dispatch.js";
import {listPage} from "./list.js";
import {executorsPage, serverPage} from "./pages.js";

const main = document.getElementById("main");
let current = null;  // {kind, stop, page?, id?}

function parse(hash) {
  const [path, search] = (hash.replace(/^#/, "") || "/").split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  const query = new URLSearchParams(search || "");
  if (!parts.length) return {kind: "list", query};
  if (parts[0] === "dispatches" && parts[1]) {
    const node = parts[2] === "tasks" && /^\d+$/.test(parts[3] || "") ? Number(parts[3]) : null;
    return {kind: "dispatch", id: parts[1], node};
  }
  if (parts[0] === "executors") return {kind: "executors"};
  if (parts[0] === "server") return {kind: "server"};
  return {kind: "unknown", path};
}

function route() {
  const next = parse(location.hash);
  if (current && current.kind === "dispatch" && next.kind === "dispatch" && current.id === next.id) {
    current.page.selectTask(next.node);  // the same dispatch: only the task shown changes
    return;
  }
  if (current) current.stop();
  for (const link of document.querySelectorAll("[data-nav]")) {
    link.classList.toggle("active", link.dataset.nav === (next.kind === "dispatch" ? "dispatches" : next.kind === "list" ? "dispatches" : next.kind));
  }
  if (next.kind === "list") {
    const flash = sessionStorage.getItem("cnb-flash");
    sessionStorage.removeItem("cnb-flash");
    current = {kind: "list", stop: listPage(main, next.query)};
    if (flash) main.prepend(h("p", {class: "note", role: "status"}, flash));
    document.title = "Dispatches · covalent-nb";
  } else if (next.kind === "dispatch") {
    const page = new DispatchPage(main, next.id, next.node);
    current = {kind: "dispatch", id: next.id, page, stop: () => page.stop()};
    document.title = `${next.id.slice(0, 8)} · covalent-nb`;
  } else if (next.kind === "executors") {
    current = {kind: "executors", stop: executorsPage(main)};
    document.title = "Executors · covalent-nb";
  } else if (next.kind === "server") {
    current = {kind: "server", stop: serverPage(main)};
    document.title = "Server · covalent-nb";
  } else {
    current = {kind: "unknown", stop: () => {}};
    fill(main, h("p", {class: "error"}, `No page at ${next.path}. `, h("a", {href: "#/"}, "Dispatches")));
  }
}

window.addEventListener("hashchange", route);
route();
