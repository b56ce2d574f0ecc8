"""The store's one transaction discipline for its one connection.

State changes of running dispatches join the turn's transaction; blocks of
writes (an upload, a new dispatch, a deletion) run inside it as savepoints,
or, when durable, commit it first and then commit themselves with
``synchronous=FULL``. Nothing ever opens a transaction inside another.
"""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3

import pytest

from covalent_nb._status import Status
from covalent_nb.server.access import Identity
from covalent_nb.server.events import EventHub
from covalent_nb.server.run_state import DispatchRun
from covalent_nb.server.state_writer import StateWriter
from covalent_nb.server.store import ResultStore

MANIFEST = {"name": "flow", "lattice": {"executor": None},
            "nodes": [{"id": 0, "name": "task", "kind": "electron"}], "edges": [], "output": 0}


def new_dispatch(store: ResultStore, dispatch_id: str) -> DispatchRun:
    with store.transaction(durable=True):
        store.insert_dispatch({"id": dispatch_id, "owner": "me", "name": "flow", "status": "NEW_OBJECT",
                               "node_count": 1, "output_node": 0}, MANIFEST,
                              [{"node_id": 0, "name": "task", "kind": "electron", "status": "NEW_OBJECT"}], [])
    return DispatchRun(dispatch_id, "me", MANIFEST, [0], lambda spec: {"name": "dask", "attrs": {}})


def committed_status(path, dispatch_id: str) -> str:
    reader = sqlite3.connect(path)     # another connection sees committed data only
    try:
        return reader.execute("SELECT status FROM nodes WHERE dispatch_id=?", (dispatch_id,)).fetchone()[0]
    finally:
        reader.close()


def test_blocks_of_writes_inside_the_turns_transaction(tmp_path):
    store = ResultStore(tmp_path)
    hub = EventHub()
    writer = StateWriter(store, hub)
    run = new_dispatch(store, "d1")
    published = []
    hub.subscribe(lambda e: published.append((e["status"], committed_status(tmp_path / "results.db", "d1"))),
                  identity=Identity("me"), dispatch_id="d1")
    small, large = b"small payload", b"L" * (300 * 1024)

    async def turn() -> None:
        writer.set_node(run, run.nodes[0], Status.RUNNING)          # the turn's transaction is open
        assert store.db.in_transaction
        with store.transaction():                                   # a savepoint of it
            store.blobs.put(hashlib.sha256(small).hexdigest(), small)
        with pytest.raises(RuntimeError, match="boom"):
            with store.transaction():                               # undone alone
                store.add_dispatch_blob("d1", "ab" * 32)
                raise RuntimeError("boom")
        assert committed_status(tmp_path / "results.db", "d1") == "NEW_OBJECT"
        with store.transaction(durable=True):                       # commits the turn first, then itself
            store.blobs.put(hashlib.sha256(large).hexdigest(), large)
            store.add_dispatch_blob("d1", "cd" * 32)
        assert not store.db.in_transaction
        assert committed_status(tmp_path / "results.db", "d1") == "RUNNING"
        assert published == []                                      # events wait for the writer's flush
        writer.set_node(run, run.nodes[0], Status.COMPLETED)
        await asyncio.sleep(0)
        await asyncio.sleep(0)

    asyncio.run(turn())
    assert published == [("RUNNING", "COMPLETED"), ("COMPLETED", "COMPLETED")]
    assert store.blobs.get(hashlib.sha256(small).hexdigest()) == small
    assert not store.dispatch_has_blob("d1", "ab" * 32)
    assert store.dispatch_has_blob("d1", "cd" * 32)
    assert store.db.execute("PRAGMA synchronous").fetchone()[0] == 1      # NORMAL again after durable
    store.close()


def test_a_flush_inside_a_block_waits_for_the_block(tmp_path):
    store = ResultStore(tmp_path)
    hub = EventHub()
    writer = StateWriter(store, hub)
    run = new_dispatch(store, "d2")
    published = []
    hub.subscribe(published.append, identity=Identity("me"), dispatch_id="d2")

    async def turn() -> None:
        with store.transaction(durable=True):
            writer.set_node(run, run.nodes[0], Status.RUNNING)      # joins the block
            writer.flush()                                          # cannot commit in the block: later
            assert published == []
            assert store.db.in_transaction
        await asyncio.sleep(0)
        await asyncio.sleep(0)

    asyncio.run(turn())
    assert [e["status"] for e in published] == ["RUNNING"]
    assert committed_status(tmp_path / "results.db", "d2") == "RUNNING"
    store.close()


def test_durable_inside_non_durable_is_refused(tmp_path):
    store = ResultStore(tmp_path)
    with pytest.raises(RuntimeError, match="durable"):
        with store.transaction():
            with store.transaction(durable=True):
                pass
    assert not store.db.in_transaction
    store.close()


def test_a_database_of_an_earlier_release_gets_the_new_columns(tmp_path):
    old = sqlite3.connect(tmp_path / "results.db")
    old.execute("CREATE TABLE small_blobs (key TEXT PRIMARY KEY, data BLOB NOT NULL) WITHOUT ROWID")
    old.execute("INSERT INTO small_blobs VALUES (?, ?)", ("ef" * 32, b"old"))
    old.commit()
    old.close()
    store = ResultStore(tmp_path)
    assert store.blobs.get("ef" * 32) == b"old"
    assert store.blobs.stored_rows() == [("ef" * 32, 0)]
    store.close()
