// The executors page (read-only, secrets masked by the server) and the server page (version, uptime, workers).

import {api} from "./api.js";
import {fill, formatSeconds, formatTime, h} from "./dom.js";

const SERVER_REFRESH_MS = 2000;

function settingsText(settings) {
  const entries = Object.entries(settings || {});
  if (!entries.length) return h("span", {class: "muted"}, "none");
  return h("table", {class: "settings"}, entries.map(([name, value]) => h("tr", {},
    h("th", {}, name), h("td", {}, h("code", {}, typeof value === "string" ? value : JSON.stringify(value))))));
}

/** The executors the server offers and their settings; returns what stops the page. */
export function executorsPage(main) {
  fill(main, h("div", {class: "toolbar"}, h("h1", {}, "Executors")), h("p", {class: "muted"}, "Loading…"));
  let stopped = false;
  api.get("executors").then((answer) => {
    if (stopped) return;
    const rows = answer.executors.map((e) => h("tr", {"data-executor": e.name},
      h("td", {}, h("code", {}, e.name), e.name === answer.default ? h("span", {class: "tag"}, "default") : null),
      h("td", {}, e.installed === false ? h("span", {class: "error"}, "not installed") : "installed",
        e.configured ? h("span", {class: "tag"}, "configured") : null),
      h("td", {}, settingsText(e.settings), e.error ? h("p", {class: "error"}, e.error) : null)));
    fill(main, h("div", {class: "toolbar"}, h("h1", {}, "Executors")),
      h("p", {class: "muted"}, "Read-only: they are set in the server's config file, secrets shown masked."),
      h("table", {class: "list", id: "executors"}, h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", {}, "State"),
        h("th", {}, "Settings"))), h("tbody", {}, rows)));
  }).catch((error) => {
    if (!stopped) fill(main, h("p", {class: "error"}, `Could not list the executors: ${error.message}`));
  });
  return () => { stopped = true; };
}

function bytes(n) {
  if (n === null || n === undefined) return "–";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

function meter(used, limit) {
  const bar = h("span", {class: "meter"});
  const fillEl = h("span", {class: "meter-fill"});
  fillEl.style.width = `${Math.min(100, limit ? 100 * used / limit : 0).toFixed(1)}%`;
  bar.append(fillEl);
  return h("span", {}, bar, ` ${bytes(used)} of ${bytes(limit)}`);
}

/** The server: version, uptime, its work and its Dask workers' load, asked again every two seconds. */
export function serverPage(main) {
  const body = h("div", {}, h("p", {class: "muted"}, "Loading…"));
  fill(main, h("div", {class: "toolbar"}, h("h1", {}, "Server")), body);
  let stopped = false;
  let timer = null;
  async function load() {
    try {
      const s = await api.get("health?detail=1");
      if (stopped) return;
      const workers = s.workers.map((w) => h("tr", {"data-worker": w.address},
        h("td", {}, h("code", {}, w.address)), h("td", {}, w.nthreads ?? "–"), h("td", {}, w.executing),
        h("td", {}, w.ready), h("td", {}, w.in_memory), h("td", {}, w.cpu === null || w.cpu === undefined ? "–" : `${w.cpu.toFixed(0)} %`),
        h("td", {}, meter(w.memory, w.memory_limit))));
      fill(body,
        h("table", {class: "facts", id: "server-facts"},
          h("tr", {}, h("th", {}, "version"), h("td", {}, s.version)),
          h("tr", {}, h("th", {}, "started"), h("td", {}, formatTime(s.started))),
          h("tr", {}, h("th", {}, "uptime"), h("td", {id: "uptime"}, formatSeconds(s.uptime))),
          h("tr", {}, h("th", {}, "Dask cluster"), h("td", {}, `${s.cluster.kind}, ${s.cluster.state}, ` +
            `${s.cluster.workers} worker${s.cluster.workers === 1 ? "" : "s"}`)),
          h("tr", {}, h("th", {}, "dispatches running"), h("td", {id: "running-dispatches"}, s.dispatches.running)),
          h("tr", {}, h("th", {}, "tasks running"), h("td", {id: "running-tasks"}, s.tasks.running)),
          h("tr", {}, h("th", {}, "tasks queued"), h("td", {id: "queued-tasks"}, s.tasks.queued))),
        h("h2", {}, "Dask workers"),
        workers.length ? h("table", {class: "list", id: "workers"}, h("thead", {}, h("tr", {},
          ["Address", "Threads", "Executing", "Ready", "In memory", "CPU", "Memory"].map((t) => h("th", {}, t)))),
        h("tbody", {}, workers)) : h("p", {class: "muted"}, "No workers connected (the cluster starts when a task needs it)."));
    } catch (error) {
      if (!stopped) fill(body, h("p", {class: "error"}, `Could not read the server's state: ${error.message}`));
    }
    if (!stopped) timer = setTimeout(load, SERVER_REFRESH_MS);
  }
  load();
  return () => { stopped = true; clearTimeout(timer); };
}
