"""``GET health?detail=1`` on a real server: version, uptime, running work and the Dask workers' load."""

from __future__ import annotations

import time

import covalent_nb as ct
from covalent_nb import __version__
from tests.conftest import RunningServer, wait_for
from tests.server.test_api import call


@ct.electron
def nap(seconds):
    time.sleep(seconds)
    return seconds


@ct.lattice
def napping(seconds):
    return [nap(seconds) for _ in range(6)]


def test_health_detail_reports_the_server(server: RunningServer) -> None:
    plain = call(server, "GET", "health")[1]
    assert set(plain) == {"status", "version", "cluster"}
    dispatch_id = ct.dispatch(napping)(3)
    wait_for(lambda: call(server, "GET", "health?detail=1")[1]["tasks"]["running"] >= 1, "a task running")
    detail = call(server, "GET", "health?detail=1")[1]
    assert detail["version"] == __version__ and detail["uptime"] > 0
    assert detail["started"] <= time.time() - detail["uptime"] + 1
    assert detail["dispatches"]["running"] >= 1
    assert detail["tasks"]["running"] + detail["tasks"]["queued"] >= 6  # 2 workers: some wait
    assert detail["cluster"]["state"] == "ready" and len(detail["workers"]) == detail["cluster"]["workers"] == 2
    worker = detail["workers"][0]
    assert worker["address"].startswith("tls://127.0.0.1:") and worker["nthreads"] >= 1
    assert worker["memory"] > 0 and worker["memory_limit"] > 0
    wait_for(lambda: sum(w["executing"] for w in call(server, "GET", "health?detail=1")[1]["workers"]) >= 1,
             "the workers' load showing a task", timeout=15)
    ct.cancel(dispatch_id)
    ct.get_result(dispatch_id, wait=True)
    assert call(server, "GET", "health?detail=x")[0] == 400
    assert call(server, "GET", "health?detail=1", token=None)[0] == 401
