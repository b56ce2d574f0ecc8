"""The longest the server's event loop is held while a 50,000-node dispatch is checked, stored, started and run.

Starts a covalent-nb server through the CLI (2 Dask workers), uploads the few
payloads of a hand-made manifest (tests/server/manifests.py: 48,000
parameters and 2,000 tasks, each ``max`` of 9 of them), then posts it while a
thread asks ``GET health`` every 10 ms on a kept-alive connection; once it
has completed, its view is read the same way. A health answer waits for
whatever holds the event loop, so the longest answer bounds the longest stall
from above (an idle server answers in about a millisecond).

    python benchmarks/bench_stall.py [--nodes 50000] [--tasks 2000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import start_server, wait_for  # noqa: E402
from tests.server.latency import HealthPoller  # noqa: E402
from tests.server.manifests import big_manifest, raw_request, upload  # noqa: E402


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=50_000)
    parser.add_argument("--tasks", type=int, default=2_000)
    opts = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="covalent_nb_bench_"))
    running = start_server(root, workers=2)
    try:
        manifest, payloads = big_manifest(parameters=opts.nodes - opts.tasks, tasks=opts.tasks, fan_in=9)
        upload(running, payloads)
        wait_for(lambda: raw_request(running, "GET", "health")[1]["cluster"]["state"] == "ready",
                 "the Dask cluster starting", timeout=120)  # its start is not what is measured
        body = json.dumps(manifest).encode()
        with HealthPoller(running.address, running.port, running.token, every=0.01) as idle:
            time.sleep(1.0)
        with HealthPoller(running.address, running.port, running.token, every=0.01) as poller:
            started = time.perf_counter()
            status, answer = raw_request(running, "POST", "dispatches", body, timeout=300)
            posted = time.perf_counter() - started
            assert status == 201, answer
            during_post = list(poller.latencies)
            dispatch_id = answer["dispatch_id"]
            wait_for(lambda: raw_request(running, "GET", f"dispatches/{dispatch_id}?status_only=1")[1]["status"]
                     == "COMPLETED", "the dispatch completing", timeout=600)
            done = time.perf_counter() - started
        with HealthPoller(running.address, running.port, running.token, every=0.01) as viewing:
            started = time.perf_counter()  # the view ct.get_result asks for, read but not parsed here
            status, _ = raw_request(running, "GET", f"dispatches/{dispatch_id}", timeout=300, parse=False)
            viewed = time.perf_counter() - started
            assert status == 200
        latencies = sorted(poller.latencies)
        print(f"manifest: {opts.nodes} nodes ({opts.tasks} tasks), {len(body) / 1e6:.1f} MB of JSON")
        print(f"POST dispatches answered in {posted:.2f} s; the dispatch completed {done:.2f} s after the post")
        print(f"GET health while idle: median {_ms(statistics.median(idle.latencies))}, worst {_ms(idle.worst)}")
        print(f"GET health during the post ({len(during_post)} answers): worst {_ms(max(during_post))}")
        print(f"GET health from post to completion ({len(latencies)} answers): median "
              f"{_ms(statistics.median(latencies))}, 99th percentile {_ms(latencies[int(len(latencies) * 0.99)])}, "
              f"worst {_ms(latencies[-1])}")
        print(f"GET dispatches/{{id}} of the finished dispatch answered in {viewed:.2f} s; GET health meanwhile: "
              f"worst {_ms(viewing.worst)}")
        if poller.errors:
            print(f"errors: {poller.errors[:5]}")
    finally:
        running.cli("stop")
        os.environ.pop("COVALENT_NB_TOKEN", None)


if __name__ == "__main__":
    main()
