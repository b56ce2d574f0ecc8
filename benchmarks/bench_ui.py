"""How fast the web UI is: the list with 10,000 stored dispatches, the page of a 1,000-task dispatch, and
that page while the dispatch runs.

Writes 10,000 finished dispatches (3 nodes each, names and statuses mixed)
into a fresh data directory with the server's own store before the server
starts (the list is measured, not 10,000 runs), starts the server through the
CLI with 2 Dask workers, and drives Debian's Chromium through Playwright:

- the list: from the start of the navigation to the first page's rows on
  screen (the page's own clock), the first time (nothing cached) and again
  (assets cached); and the API's answer to the list's question alone;
- a dispatch of 1,000 tasks (each sleeps 20 to 80 ms; 2 workers of 1
  thread, so it runs about 30 s) and their sum, its page opened as it
  starts: navigation to the graph drawn and the task table shown; while it
  runs, the page's redraws of the task table per second (a MutationObserver on its rows),
  the longest gap between two animation frames, the browser's long tasks
  (over 50 ms), and how long a click on a column to sort by takes to show;
- the same page once the dispatch has finished.

    python benchmarks/bench_ui.py [--dispatches 10000] [--tasks 1000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import covalent_nb as ct  # noqa: E402
from covalent_nb.server.store import ResultStore  # noqa: E402
from tests.conftest import start_server, wait_for  # noqa: E402
from tests.server.manifests import small_manifest  # noqa: E402
from tests.webui.browser import launch_chromium, login_link  # noqa: E402

# Installed in the page before its own scripts run: redraws of the task table, frame gaps, long tasks.
WATCH = """
window.__watch = {redraws: [], frames: 0, longestFrame: 0, longTasks: []};
(() => {
  let last = performance.now();
  const frame = (now) => {
    window.__watch.longestFrame = Math.max(window.__watch.longestFrame, now - last);
    window.__watch.frames += 1;
    last = now;
    requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) window.__watch.longTasks.push(entry.duration);
  }).observe({type: "longtask", buffered: true});
  new MutationObserver(() => {
    const rows = document.querySelector("#tasks tbody");
    if (rows && !rows.__watched) {
      rows.__watched = true;
      new MutationObserver(() => window.__watch.redraws.push(performance.now())).observe(rows, {childList: true});
    }
  }).observe(document, {childList: true, subtree: true});
})();
"""


@ct.electron
def nap(i: int) -> int:
    import random as chance
    import time as clock

    clock.sleep(chance.uniform(0.02, 0.08))
    return i


@ct.electron
def add_up(values: list) -> int:
    return sum(values)


@ct.lattice
def thousand(n: int) -> int:
    return add_up([nap(i) for i in range(n)])


def store_dispatches(data_dir: Path, count: int) -> None:
    """``count`` finished dispatches in the store, 1 a second apart, the newest now."""
    manifest = small_manifest()
    manifest.pop("blobs")
    manifest["nodes"].append({"id": 2, "name": "total", "kind": "electron", "function": None})
    chance = random.Random(7)
    store = ResultStore(data_dir)
    now = time.time()
    try:
        with store.transaction(durable=True):
            for i in range(count):
                dispatch_id = f"{chance.getrandbits(128):032x}"
                dispatch_id = "-".join((dispatch_id[:8], dispatch_id[8:12], dispatch_id[12:16], dispatch_id[16:20],
                                        dispatch_id[20:]))
                status = chance.choices(["COMPLETED", "FAILED", "CANCELLED"], [80, 15, 5])[0]
                created = now - (count - i)
                store.insert_dispatch(
                    {"id": dispatch_id, "owner": "local", "name": f"experiment_{i % 37}", "status": status,
                     "created": created, "node_count": 3, "output_node": 2}, manifest,
                    [{"node_id": 0, "name": ":parameter:-3", "kind": "parameter", "status": "COMPLETED"},
                     {"node_id": 1, "name": "absolute", "kind": "electron", "status": "COMPLETED"},
                     {"node_id": 2, "name": "total", "kind": "electron",
                      "status": "COMPLETED" if status == "COMPLETED" else status}], [])
                store.update_dispatch(dispatch_id, start_time=created + 0.01, end_time=created + chance.uniform(0.1, 5))
    finally:
        store.close()


def shown_after(page, condition: str, timeout: float = 60_000) -> float:
    """Milliseconds from the navigation's start until ``condition`` holds (checked every frame)."""
    return page.wait_for_function(f"() => ({condition}) && performance.now()", timeout=timeout).json_value()


def api_ms(url: str, token: str, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        request = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=60) as answer:
            answer.read()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dispatches", type=int, default=10_000)
    parser.add_argument("--tasks", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=5)
    opts = parser.parse_args()
    from playwright.sync_api import sync_playwright

    root = Path(tempfile.mkdtemp(prefix="covalent_nb_bench_ui_"))
    (root / "data").mkdir(mode=0o700)
    started = time.perf_counter()
    store_dispatches(root / "data", opts.dispatches)
    print(f"stored {opts.dispatches} dispatches in {time.perf_counter() - started:.1f} s")
    server = start_server(root, workers=2)
    os.environ.update(COVALENT_NB_CONFIG_DIR=server.env["COVALENT_NB_CONFIG_DIR"], COVALENT_NB_TOKEN=server.token)
    ct.reload_config()
    ct.set_config({"dispatcher.address": server.address, "dispatcher.port": server.port})
    results: dict[str, object] = {"dispatches": opts.dispatches, "tasks": opts.tasks}
    base = f"http://{server.addr}"
    try:
        wait_for(lambda: json.loads(urllib.request.urlopen(urllib.request.Request(
            f"{base}/api/v1/health", headers={"Authorization": f"token {server.token}"})).read())["cluster"]["state"]
            == "ready", "the Dask cluster", timeout=120)
        results["api_list_ms"] = api_ms(f"{base}/api/v1/dispatches?limit=50&count=1", server.token, opts.repeat)
        results["api_search_ms"] = api_ms(f"{base}/api/v1/dispatches?limit=50&count=1&search=experiment_3",
                                          server.token, opts.repeat)
        results["api_failed_ms"] = api_ms(f"{base}/api/v1/dispatches?limit=50&count=1&status=FAILED",
                                          server.token, opts.repeat)
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            context = browser.new_context(viewport={"width": 1400, "height": 900})
            context.add_init_script(WATCH)
            page = context.new_page()
            first_row = "document.querySelectorAll('#dispatches tbody tr[data-id]').length === 50"
            page.goto(login_link(server))  # the first load: nothing cached yet
            results["list_first_ms"] = shown_after(page, first_row)
            warm = []
            for _ in range(opts.repeat):
                page.goto(f"{base}/ui/?again={len(warm)}#/")
                warm.append(shown_after(page, first_row))
            results["list_warm_ms"] = statistics.median(warm)
            total = page.inner_text("#total")

            dispatch_id = ct.dispatch(thousand)(opts.tasks)
            page.goto(f"{base}/ui/#/dispatches/{dispatch_id}")
            results["running_page_ms"] = shown_after(
                page, "document.querySelector('#graph g.node[data-status]')"
                      " && document.querySelectorAll('#tasks tbody tr[data-node]').length >= 100")
            page.evaluate("() => { window.__watch.longestFrame = 0; window.__watch.longTasks = [];"
                          " window.__watch.redraws = []; window.__watch.frames = 0; }")
            watch_started = time.perf_counter()
            clicks = []
            while True:
                status = ct.get_result(dispatch_id).status
                if status != "RUNNING":
                    break
                time.sleep(2.0)
                clicked = time.perf_counter()
                key = "duration" if len(clicks) % 2 == 0 else "status"
                page.click(f"#tasks th[data-sort={key}]")
                page.wait_for_function(f"() => document.querySelector('#tasks th[data-sort={key}]')"
                                       ".textContent.match(/[▲▼]/)")
                clicks.append((time.perf_counter() - clicked) * 1000)
            ran = time.perf_counter() - watch_started
            watch = page.evaluate("() => window.__watch")
            redraws = watch["redraws"]
            per_second = max((sum(1 for t in redraws if start <= t < start + 1000) for start in redraws), default=0)
            results.update(run_seconds=ran, redraws=len(redraws), redraws_per_second_avg=len(redraws) / ran,
                           redraws_in_busiest_second=per_second, longest_frame_ms=watch["longestFrame"],
                           frames_per_second=watch["frames"] / ran, long_tasks=len(watch["longTasks"]),
                           longest_task_ms=max(watch["longTasks"], default=0.0),
                           sort_click_ms_median=statistics.median(clicks) if clicks else None,
                           sort_click_ms_max=max(clicks) if clicks else None, final_status=str(status))
            page.goto(f"{base}/ui/?finished=1#/dispatches/{dispatch_id}")
            results["finished_page_ms"] = shown_after(
                page, "document.querySelector('#graph g.node[data-status=COMPLETED]')"
                      " && document.querySelectorAll('#tasks tbody tr[data-node]').length >= 100")
            browser.close()
        results["list_total_shown"] = total
    finally:
        server.cli("stop")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
