// One task's details: status history, executor and settings, inputs and output previews, output streams, error.

import {api} from "./api.js";
import {badge, duration, fill, formatTime, h, TERMINAL} from "./dom.js";
import {nodeLabel, nodeRole} from "./kinds.js";

function paramLabel(param) {
  if (!param) return "?";
  if (param.kind === "arg") return `arg ${param.index}`;
  if (param.kind === "kwarg") return `${param.name}=`;
  return param.kind === "wait" ? "waits for" : "?";
}

function section(title, ...content) {
  return h("section", {class: "detail"}, h("h3", {}, title), ...content);
}

function pre(text, cls = "") {
  return h("pre", {class: `text ${cls}`}, text);
}

/** Show task ``nodeId`` of the dispatch in ``container``; ``actions.cancel(nodeId)`` cancels it. */
export async function showTask(container, dispatchId, nodeId, actions) {
  let answer;
  try {
    answer = await api.get(`dispatches/${encodeURIComponent(dispatchId)}/nodes/${nodeId}`);
  } catch (error) {
    fill(container, h("p", {class: "error"}, `Could not read task ${nodeId}: ${error.message}`));
    return null;
  }
  const node = answer.node;
  const head = h("div", {class: "task-head"},
    h("h2", {}, nodeLabel(node)), h("span", {class: "muted"}, `node ${node.node_id} · ${nodeRole(node)}`),
    badge(node.status));
  if (!TERMINAL.has(node.status) && node.kind !== "parameter") {
    head.append(h("button", {type: "button", class: "danger small", id: "cancel-task",
      onclick: () => actions.cancel(node.node_id)}, "Cancel task"));
  }
  const first = answer.history.length ? answer.history[0].at : null;
  const history = h("table", {class: "history"}, answer.history.map((step) => h("tr", {},
    h("td", {}, badge(step.status)), h("td", {}, formatTime(step.at)),
    h("td", {class: "muted"}, first !== null ? `+${(step.at - first).toFixed(3)} s` : ""))));
  const executor = node.executor || {};
  const sources = {task: "the task's own", lattice: "the workflow's", server: "the server's default"};
  const parts = [
    head,
    h("table", {class: "facts"},
      h("tr", {}, h("th", {}, "started"), h("td", {}, formatTime(node.start_time))),
      h("tr", {}, h("th", {}, "ended"), h("td", {}, formatTime(node.end_time))),
      h("tr", {}, h("th", {}, "duration"), h("td", {}, duration(node.start_time, node.end_time))),
      h("tr", {}, h("th", {}, "executor"), h("td", {}, h("code", {}, executor.name || "?"),
        ` (${sources[executor.source] || executor.source})`))),
  ];
  if (executor.attrs && Object.keys(executor.attrs).length) {
    parts.push(section("Executor settings", pre(JSON.stringify(executor.attrs, null, 2))));
  }
  parts.push(section("Status history", answer.history.length ? history : h("p", {class: "muted"}, "none yet")));
  if (node.sub_dispatch_id) {
    parts.push(section("Sublattice", h("a", {href: `#/dispatches/${encodeURIComponent(node.sub_dispatch_id)}`},
      `dispatch ${node.sub_dispatch_id}`)));
  }
  if (answer.inputs.length) {
    parts.push(section("Inputs", h("table", {class: "inputs"}, answer.inputs.map((input) => h("tr", {},
      h("td", {}, h("code", {}, paramLabel(input.param))),
      h("td", {}, input.kind === "parameter" ? "value" : h("a", {href: `#/dispatches/${encodeURIComponent(dispatchId)}/tasks/${input.node_id}`},
        `${nodeLabel(input)} (${input.node_id})`), " ", input.status && input.kind !== "parameter" ? badge(input.status) : ""),
      h("td", {}, input.preview !== null && input.preview !== undefined ? pre(input.preview, "preview")
        : h("span", {class: "muted"}, input.param && input.param.kind === "wait" ? "" : "(no preview yet)")))))));
  }
  if (node.kind === "parameter" || node.status === "COMPLETED") {
    parts.push(section(node.kind === "parameter" ? "Value" : "Output", node.preview !== null && node.preview !== undefined
      ? pre(node.preview, "preview") : h("p", {class: "muted"}, "(no preview stored)")));
  }
  if (node.error) parts.push(section("Error", pre(node.error, "error-text")));
  if (node.traceback) parts.push(section("Traceback", pre(node.traceback, "traceback")));
  if (node.stdout) parts.push(section("stdout", pre(node.stdout, "stdout")));
  if (node.stderr) parts.push(section("stderr", pre(node.stderr, "stderr")));
  fill(container, parts);
  return node;
}
