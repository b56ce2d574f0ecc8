// Small helpers for building the page: elements, times, durations, statuses.

/** An element: h("a", {href: "#/", class: "x", onclick: f}, "text", child...). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

/** Replace the children of ``el``. */
export function fill(el, ...children) {
  el.replaceChildren();
  for (const child of children.flat()) if (child !== null && child !== undefined && child !== false) el.append(child);
  return el;
}

/** A status as displays show it: "pending" for NEW_OBJECT (as the widget says), else its name. */
export function statusText(status) {
  return status === "NEW_OBJECT" ? "pending" : String(status || "");
}

export function badge(status) {
  return h("span", {class: "badge", "data-status": status || ""}, statusText(status));
}

export const TERMINAL = new Set(["COMPLETED", "FAILED", "CANCELLED"]);

function pad(n) { return String(n).padStart(2, "0"); }

/** A time (seconds since the epoch) as local "YYYY-MM-DD HH:MM:SS"; "–" when absent. */
export function formatTime(t) {
  if (t === null || t === undefined) return "–";
  const d = new Date(t * 1000);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** Seconds as "0.42 s", "12.3 s", "4 min 05 s", "2 h 03 min". */
export function formatSeconds(s) {
  if (s === null || s === undefined || !isFinite(s)) return "–";
  if (s < 10) return `${s.toFixed(2)} s`;
  if (s < 60) return `${s.toFixed(1)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${pad(Math.floor(s % 60))} s`;
  return `${Math.floor(s / 3600)} h ${pad(Math.floor((s % 3600) / 60))} min`;
}

/** How long from ``start`` to ``end`` (to now while it runs); "–" before the start. */
export function duration(start, end) {
  if (start === null || start === undefined) return "–";
  return formatSeconds((end ?? Date.now() / 1000) - start);
}

/** A progress bar of the user's tasks: counts by status -> green/red/blue/grey parts and "done/total". */
export function progressBar(counts) {
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  const done = (counts.COMPLETED || 0);
  const bar = h("span", {class: "progress", title: Object.entries(counts)
    .map(([s, n]) => `${statusText(s)}: ${n}`).join(", ") || "no tasks"});
  for (const status of ["COMPLETED", "FAILED", "CANCELLED", "RUNNING"]) {
    const n = counts[status] || 0;
    if (n) {
      const part = h("span", {class: "part", "data-status": status});
      part.style.width = `${(100 * n / total).toFixed(2)}%`;
      bar.append(part);
    }
  }
  return h("span", {class: "progress-cell"}, bar, h("span", {class: "count"}, `${done}/${total}`));
}

/** Copy ``text`` to the clipboard; true when it worked. */
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch (error) {
    const area = h("textarea", {class: "offscreen"}, text);
    document.body.append(area);
    area.select();
    const ok = document.execCommand("copy");
    area.remove();
    return ok;
  }
}

/** A <code> snippet with a "Copy" button. */
export function snippet(text) {
  const button = h("button", {class: "small", type: "button", title: "copy to the clipboard"}, "Copy");
  button.addEventListener("click", async () => {
    button.textContent = (await copyText(text)) ? "Copied" : "Select and copy";
    setTimeout(() => { button.textContent = "Copy"; }, 1500);
  });
  return h("span", {class: "snippet"}, h("code", {}, text), button);
}

/** Ask with a modal dialog; resolves true when the user confirms. */
export function confirmDialog(message, action = "OK") {
  return new Promise((resolve) => {
    const yes = h("button", {type: "button", class: "danger", "data-confirm": "yes"}, action);
    const no = h("button", {type: "button", "data-confirm": "no"}, "Keep it");
    const dialog = h("dialog", {class: "confirm"}, h("p", {}, message), h("div", {class: "buttons"}, no, yes));
    const close = (answer) => { dialog.close(); dialog.remove(); resolve(answer); };
    yes.addEventListener("click", () => close(true));
    no.addEventListener("click", () => close(false));
    dialog.addEventListener("cancel", () => close(false));
    document.body.append(dialog);
    dialog.showModal();
  });
}
