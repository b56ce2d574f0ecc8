"""A 50,000-node manifest is checked, stored and started without freezing the server.

While it is posted, runs and its view and event snapshot are read, another
thread asks ``GET health`` every 50 ms: every answer must come within 0.5 s (the event loop is
never held for long; the benchmark benchmarks/bench_stall.py measures the
longest hold). The dispatch must complete. Listing many dispatches is paged.
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from tests.conftest import RunningServer, start_server, wait_for
from tests.server.latency import HealthPoller
from tests.server.manifests import big_manifest, raw_request, small_manifest, upload

NODES = 50_000
TASKS = 2_000
MAX_HEALTH_SECONDS = 0.5


async def first_event(running: RunningServer, dispatch_id: str) -> dict:
    """The first message of the dispatch's event WebSocket (its snapshot)."""
    import tornado.websocket

    url = f"ws://{running.addr}/api/v1/events?dispatch_id={dispatch_id}&token={running.token}"
    conn = await tornado.websocket.websocket_connect(url, max_message_size=64 * 1024 * 1024)
    try:
        return json.loads(await asyncio.wait_for(conn.read_message(), 60))
    finally:
        conn.close()


def test_a_50000_node_manifest_never_freezes_the_server(tmp_path):
    running = start_server(tmp_path, workers=2)
    try:
        manifest, payloads = big_manifest(parameters=NODES - TASKS, tasks=TASKS, fan_in=9)
        assert len(manifest["nodes"]) == NODES
        upload(running, payloads)
        wait_for(lambda: raw_request(running, "GET", "health")[1]["cluster"]["state"] == "ready",
                 "the Dask cluster starting", timeout=120)  # its start is not what is measured
        body = json.dumps(manifest).encode()
        with HealthPoller(running.address, running.port, running.token) as poller:
            status, answer = raw_request(running, "POST", "dispatches", body, timeout=120)
            assert status == 201, answer
            posted = len(poller.latencies)
            dispatch_id = answer["dispatch_id"]

            def completed() -> bool:
                code, view = raw_request(running, "GET", f"dispatches/{dispatch_id}?status_only=1")
                assert code == 200 and view["status"] in ("RUNNING", "COMPLETED"), view
                return view["status"] == "COMPLETED"

            wait_for(completed, "the 50,000-node dispatch completing", timeout=240)
            # What ct.get_result asks; read here, parsed after the polling (20 MB of JSON would
            # hold this process's GIL, and so its poller, for a good part of a second).
            views = [raw_request(running, "GET", path, timeout=120, parse=False)
                     for path in (f"dispatches/{dispatch_id}", f"dispatches/{dispatch_id}/wait?timeout=1")]
            snapshot = asyncio.run(first_event(running, dispatch_id))  # what the notebook widget asks
        assert snapshot["type"] == "snapshot" and snapshot["status"] == "COMPLETED"
        assert len(snapshot["nodes"]) == NODES and set(snapshot["nodes"].values()) == {"COMPLETED"}
        for code, data in views:
            view = json.loads(data)
            assert code == 200 and len(view["nodes"]) == NODES and view["progress"] == {"COMPLETED": NODES}
            assert len(view["edges"]) == TASKS * 9 and view["status"] == "COMPLETED"
        assert not poller.errors, poller.errors[:5]
        assert posted >= 5, "the health poller should have asked during the post"
        assert poller.worst < MAX_HEALTH_SECONDS, (
            f"GET health took {poller.worst:.3f} s at worst over {len(poller.latencies)} requests")
        code, listing = raw_request(running, "GET", "dispatches?limit=1")
        assert code == 200 and listing["dispatches"][0]["id"] == dispatch_id
        assert listing["dispatches"][0]["progress"] == {"COMPLETED": NODES}
    finally:
        running.cli("stop")


def test_the_dispatch_list_is_paged(server):
    ids = []
    for _ in range(5):
        status, body = raw_request(server, "POST", "dispatches", json.dumps(small_manifest()).encode())
        assert status == 201, body
        ids.append(body["dispatch_id"])
        time.sleep(0.002)
    seen: list[str] = []
    cursor = None
    while True:
        query = "limit=2" + (f"&before={cursor}" if cursor else "")
        status, page = raw_request(server, "GET", f"dispatches?{query}")
        assert status == 200 and len(page["dispatches"]) <= 2
        seen += [d["id"] for d in page["dispatches"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)), "no dispatch is listed twice"
    assert seen[:5] == ids[::-1], "newest first, across pages"
    status, running_only = raw_request(server, "GET", "dispatches?status=completed,failed&limit=1000")
    assert status == 200
    assert all(d["status"] in ("COMPLETED", "FAILED") for d in running_only["dispatches"])


def test_covalent_list_pages_past_the_servers_page_size(tmp_path, capsys):
    """``%covalent list -n N`` for N over the server's page size (1000) follows ``next`` for the rest."""
    import argparse

    from covalent_nb.notebook.magics import CovalentMagics
    from covalent_nb.server.query_args import MAX_LIST_LIMIT

    running = start_server(tmp_path, workers=1)
    try:
        manifest = small_manifest()  # only its parameter: done without a task
        manifest["nodes"], manifest["edges"], manifest["output"] = manifest["nodes"][:1], [], 0
        body = json.dumps(manifest).encode()
        for _ in range(MAX_LIST_LIMIT + 3):
            status, answer = raw_request(running, "POST", "dispatches", body)
            assert status == 201, answer
        status, page = raw_request(running, "GET", f"dispatches?limit={MAX_LIST_LIMIT + 2}")
        assert len(page["dispatches"]) == MAX_LIST_LIMIT and page["next"]
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("COVALENT_NB_TOKEN", running.token)
            CovalentMagics(shell=None)._list(argparse.Namespace(limit=MAX_LIST_LIMIT + 2, addr=running.addr))
        rows = capsys.readouterr().out.strip().splitlines()[1:]
        assert len(rows) == MAX_LIST_LIMIT + 2
        assert len({row.split()[0] for row in rows}) == MAX_LIST_LIMIT + 2
    finally:
        running.cli("stop")
