// The public api/v1, as any client speaks it. The page is at {prefix}ui/, the API at {prefix}api/v1/.

const BASE = new URL("../api/v1/", document.baseURI);

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** The XSRF token every state-changing request repeats in a header: the _xsrf cookie (or the page's copy). */
export function xsrfToken() {
  const cookie = document.cookie.split("; ").find((c) => c.startsWith("_xsrf="));
  return cookie ? decodeURIComponent(cookie.slice("_xsrf=".length)) : (document.body.dataset.xsrf || "");
}

/** Where the standalone server's login page is, coming back to the current page. */
export function loginUrl() {
  return new URL(`login?next=${encodeURIComponent(location.hash || "#/")}`, document.baseURI).href;
}

async function request(method, path, body, as = "json") {
  const headers = {Accept: as === "json" ? "application/json" : "*/*"};
  const init = {method, headers, credentials: "same-origin", cache: "no-store"};
  if (method !== "GET") headers["X-XSRFToken"] = xsrfToken();
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(new URL(path, BASE), init);
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try {
      message = (await response.json()).error || message;
    } catch (error) { /* not JSON: keep the status line */ }
    if (response.status === 401 && document.body.dataset.host === "standalone") {
      location.assign(loginUrl());  // the session ended: log in again, then come back here
    }
    throw new ApiError(response.status, message);
  }
  return as === "json" ? response.json() : response.text();
}

export const api = {
  get: (path) => request("GET", path),
  text: (path) => request("GET", path, undefined, "text"),
  post: (path, body = {}) => request("POST", path, body),
  delete: (path) => request("DELETE", path),
};

/** The events WebSocket's URL: one dispatch's events, or (no id) all of the user's. */
export function eventsUrl(dispatchId) {
  const url = new URL("events", BASE);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  if (dispatchId) url.searchParams.set("dispatch_id", dispatchId);
  return url.href;
}
