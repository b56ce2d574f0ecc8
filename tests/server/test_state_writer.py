"""Every status change is written (committed) before its event is published; illegal ones are refused."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from covalent_nb._status import Status
from covalent_nb.server.access import Identity
from covalent_nb.server.events import EventHub
from covalent_nb.server.run_state import DispatchRun
from covalent_nb.server.state_writer import StateWriter
from covalent_nb.server.states import IllegalTransition
from covalent_nb.server.store import ResultStore

MANIFEST = {"name": "flow", "lattice": {"executor": None},
            "nodes": [{"id": 0, "name": "task", "kind": "electron"}], "edges": [], "output": 0}


def test_events_only_after_commit(tmp_path):
    store = ResultStore(tmp_path)
    with store.transaction(durable=True):
        store.insert_dispatch({"id": "d1", "owner": "me", "name": "flow", "status": "NEW_OBJECT",
                               "node_count": 1, "output_node": 0}, MANIFEST,
                              [{"node_id": 0, "name": "task", "kind": "electron", "status": "NEW_OBJECT"}], [])
    hub = EventHub()
    writer = StateWriter(store, hub)
    run = DispatchRun("d1", "me", MANIFEST, [0], lambda spec: {"name": "dask", "attrs": {}})
    reader = sqlite3.connect(tmp_path / "results.db")   # another connection sees committed data only
    seen = []

    def on_event(event):
        status = reader.execute("SELECT status FROM nodes WHERE dispatch_id='d1' AND node_id=0").fetchone()[0]
        seen.append((event["status"], status))

    hub.subscribe(on_event, identity=Identity("me"), dispatch_id="d1")

    async def change() -> None:
        writer.set_node(run, run.nodes[0], Status.RUNNING)
        writer.set_node(run, run.nodes[0], Status.COMPLETED)
        assert seen == []                       # nothing announced inside the open transaction
        await asyncio.sleep(0)                   # the turn ends: commit, then publish
        await asyncio.sleep(0)

    asyncio.run(change())
    assert seen == [("RUNNING", "COMPLETED"), ("COMPLETED", "COMPLETED")]
    assert run.unfinished == 0
    with pytest.raises(IllegalTransition, match="COMPLETED to RUNNING"):
        writer.set_node(run, run.nodes[0], Status.RUNNING)
    reader.close()
    store.close()
