"""Deleting dispatches (by hand and by age), collecting unused payloads, and never leaving temp files."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import sqlite3
import time
from pathlib import Path

import pytest

import covalent_nb as ct
from covalent_nb._serialize import blob_key, dumps
from covalent_nb.server.cleanup import Cleaner, DispatchGone
from covalent_nb.server.store import ResultStore
from tests.conftest import RunningServer, process_is_gone, start_server, wait_for
from tests.server.test_api import call

BIG = 300 * 1024
"""Arguments this large are uploaded and stored as files; smaller payloads live in SQLite."""


@ct.electron
def size_of(data):
    return len(data)


@ct.electron
def plus(x, y):
    return x + y


@ct.lattice
def inner(n):
    return plus(n, 1000)


@ct.lattice
def outer(shared, own, n):
    sub = ct.electron(inner)(n)
    return plus(plus(size_of(shared), size_of(own)), sub)


@ct.electron(executor="local")
def sleepy(seconds):
    import time
    time.sleep(seconds)
    return seconds


@ct.lattice
def sleepy_flow(seconds):
    return sleepy(seconds)


def read_db(server: RunningServer, sql: str, *params: object) -> list[tuple]:
    db = sqlite3.connect(f"file:{server.data_dir / 'results.db'}?mode=ro", uri=True)
    try:
        return db.execute(sql, params).fetchall()
    finally:
        db.close()


def stored(server: RunningServer, key: str) -> bool:
    """True when payload ``key`` is on the server's disk (a file, or a row in SQLite)."""
    path = server.data_dir / "blobs" / key[:2] / key[2:]
    return path.exists() or bool(read_db(server, "SELECT 1 FROM small_blobs WHERE key=?", key))


def keys_of(server: RunningServer, dispatch_ids: list[str]) -> set[str]:
    return {k for d in dispatch_ids for (k,) in read_db(server, "SELECT key FROM dispatch_blobs WHERE dispatch_id=?", d)}


def temp_files(server: RunningServer) -> list[Path]:
    return list((server.data_dir / "blobs" / "tmp").iterdir())


def test_delete_removes_records_sublattices_and_only_unshared_payloads(server):
    shared, own_a, own_b = os.urandom(BIG), os.urandom(BIG), os.urandom(BIG)
    first = ct.dispatch(outer)(shared, own_a, 1)
    second = ct.dispatch(outer)(shared, own_b, 2)
    assert ct.get_result(first, wait=True).result == 2 * BIG + 1001
    assert ct.get_result(second, wait=True).result == 2 * BIG + 1002
    subs = [r[0] for r in read_db(server, "SELECT id FROM dispatches WHERE parent_id=?", first)]
    assert len(subs) == 1
    first_keys, second_keys = keys_of(server, [first, *subs]), keys_of(server, [second])
    only_first = first_keys - second_keys - keys_of(server, [r[0] for r in read_db(
        server, "SELECT id FROM dispatches WHERE id NOT IN (?, ?)", first, subs[0])])
    own_key, shared_key = blob_key(dumps(own_a)), blob_key(dumps(shared))
    assert own_key in only_first and shared_key in first_keys & second_keys
    assert (server.data_dir / "blobs" / own_key[:2] / own_key[2:]).is_file()   # large: a file
    assert all(stored(server, k) for k in first_keys)

    answer = ct.delete(first)
    assert answer["dispatch_id"] == first and sorted(answer["deleted"]) == sorted([first, *subs])
    assert answer["payloads_removed"] == len(only_first) and answer["bytes_freed"] > BIG
    for table, column in (("dispatches", "id"), ("nodes", "dispatch_id"), ("node_history", "dispatch_id"),
                          ("dispatch_blobs", "dispatch_id"), ("idempotency_keys", "dispatch_id")):
        for dispatch_id in (first, *subs):
            assert read_db(server, f"SELECT 1 FROM {table} WHERE {column}=?", dispatch_id) == [], table
    assert not any(stored(server, k) for k in only_first)          # its own payloads: gone
    assert not (server.data_dir / "blobs" / own_key[:2] / own_key[2:]).exists()
    assert all(stored(server, k) for k in second_keys)             # shared ones: kept
    again = ct.get_result(second)
    assert again.result == 2 * BIG + 1002
    assert sorted(v for k, v in again.get_all_node_outputs().items() if k.startswith("size_of")) == [BIG, BIG]
    with pytest.raises(ct.DispatchNotFoundError):
        ct.get_result(first)
    with pytest.raises(ct.DispatchNotFoundError):
        ct.delete(first)


def test_delete_refuses_running_dispatches_sublattices_strangers_and_unknown_ids(server):
    running = ct.dispatch(sleepy_flow)(30)
    with pytest.raises(ct.DispatcherError, match="running; cancel it first") as info:
        ct.delete(running)
    assert info.value.status == 409
    ct.cancel(running)
    assert ct.get_result(running, wait=True).status == "CANCELLED"
    assert ct.delete(running)["deleted"] == [running]

    parent = ct.dispatch(outer)(b"x", b"y", 3)
    ct.get_result(parent, wait=True)
    (sub,), = read_db(server, "SELECT id FROM dispatches WHERE parent_id=?", parent)
    status, body = call(server, "DELETE", f"dispatches/{sub}")
    assert status == 409 and f"deleted with that one" in body["error"] and parent in body["error"]

    status, body = call(server, "DELETE", "dispatches/12345678-0000-0000-0000-000000000000")
    assert status == 404 and "no dispatch" in body["error"]
    status, body = call(server, "DELETE", f"dispatches/{parent}", token=None)
    assert status == 401
    status, body = call(server, "DELETE", f"dispatches/{parent}", token="wrong")
    assert status == 401
    assert call(server, "GET", f"dispatches/{parent}")[0] == 200


def test_another_owners_dispatch_is_not_found(tmp_path):
    # One token means one owner on a standalone server; owners differ behind Jupyter or a hub.
    # The store and the cleaner are the real ones.
    store = ResultStore(tmp_path)
    manifest = {"name": "flow", "nodes": [{"id": 0, "name": "task", "kind": "electron"}], "edges": []}
    with store.transaction(durable=True):
        store.insert_dispatch({"id": "theirs", "owner": "alice", "name": "flow", "status": "COMPLETED",
                               "node_count": 1}, manifest, [], [])
    with pytest.raises(DispatchGone, match="no dispatch with id 'theirs'"):
        Cleaner(store).delete("bob", "theirs")
    assert store.get_dispatch("theirs") is not None
    assert Cleaner(store).delete("alice", "theirs")["deleted"] == ["theirs"]
    store.close()


def test_finished_dispatches_are_deleted_after_keep_days(tmp_path, monkeypatch):
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "covalent.conf").write_text("[server]\nkeep_days = 0.0001\n")   # 8.6 seconds
    server = start_server(tmp_path, workers=1)
    monkeypatch.setenv("COVALENT_NB_TOKEN", server.token)
    addr = server.addr
    try:
        running = ct.dispatch(sleepy_flow, dispatcher_addr=addr)(25)
        own = os.urandom(BIG)
        done = ct.dispatch(outer, dispatcher_addr=addr)(b"s", own, 4)
        assert ct.get_result(done, wait=True, dispatcher_addr=addr).status == "COMPLETED"
        keys = keys_of(server, [done])

        def gone() -> bool:
            return call(server, "GET", f"dispatches/{done}")[0] == 404

        wait_for(gone, "the finished dispatch deleted by keep_days", timeout=45)
        assert call(server, "GET", f"dispatches/{running}")[1]["status"] == "RUNNING"   # running: kept
        assert not any(stored(server, k) for k in keys - keys_of(server, [running]))
        assert read_db(server, "SELECT count(*) FROM dispatches WHERE parent_id IS NOT NULL") == [(0,)]
        assert "ended more than 0.0001 day(s) ago (server.keep_days)" in (server.data_dir / "server.log").read_text()
        ct.cancel(running, dispatcher_addr=addr)
    finally:
        server.cli("stop")


def put_blob(server: RunningServer, data: bytes) -> str:
    key = hashlib.sha256(data).hexdigest()
    status, _ = call(server, "PUT", f"blobs/{key}", data)
    assert status == 201
    return key


def make_old(path: Path, seconds: float = 2 * 3600) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_gc_through_the_running_server_and_directly(tmp_path, monkeypatch):
    server = start_server(tmp_path, workers=1)
    monkeypatch.setenv("COVALENT_NB_TOKEN", server.token)
    blobs = server.data_dir / "blobs"
    try:
        used = os.urandom(BIG)
        dispatch_id = ct.dispatch(outer, dispatcher_addr=server.addr)(used, b"o", 5)
        assert ct.get_result(dispatch_id, wait=True, dispatcher_addr=server.addr).status == "COMPLETED"
        orphan_big, orphan_small = put_blob(server, os.urandom(BIG)), put_blob(server, b"small orphan")
        (blobs / "tmp" / "left-behind").write_bytes(b"x")
        (blobs / "ab").mkdir(exist_ok=True)
        old_partial, new_partial = blobs / "ab" / ".partial-old", blobs / "ab" / ".partial-new"
        old_partial.write_bytes(b"p")
        new_partial.write_bytes(b"p")
        make_old(old_partial)

        kept = server.cli("gc")                 # default grace: an hour; the orphans are fresh
        assert kept.returncode == 0, kept.stderr
        assert "removed 0 payload(s)" in kept.stdout and "and 2 temporary file(s)" in kept.stdout, kept.stdout
        assert f"by the covalent-nb dispatcher at http://127.0.0.1:{server.port}" in kept.stdout
        assert stored(server, orphan_big) and stored(server, orphan_small)
        assert not old_partial.exists() and new_partial.exists()   # a runner may still write the new one

        done = server.cli("gc", "--grace-minutes", "0")
        assert done.returncode == 0, done.stderr
        assert "removed 2 payload(s)" in done.stdout and "0 temporary file(s)" in done.stdout, done.stdout
        assert not stored(server, orphan_big) and not stored(server, orphan_small)
        assert new_partial.exists()
        assert temp_files(server) == []
        assert all(stored(server, k) for k in keys_of(server, [dispatch_id]))
        result = ct.get_result(dispatch_id, dispatcher_addr=server.addr)
        assert result.get_all_node_outputs()  # every payload still reads
        status, body = call(server, "POST", "gc", b'{"grace_seconds": -1}')
        assert status == 400 and "grace_seconds" in body["error"]
        status, _ = call(server, "POST", "gc", b"{}", token=None)
        assert status == 401
    finally:
        server.cli("stop")

    data = os.urandom(BIG)                       # a payload file nothing names, written long ago
    key = hashlib.sha256(data).hexdigest()
    (blobs / key[:2]).mkdir(exist_ok=True)
    (blobs / key[:2] / key[2:]).write_bytes(data)
    make_old(blobs / key[:2] / key[2:])
    (blobs / "tmp" / "left-behind").write_bytes(b"x")
    direct = server.cli("gc", "--grace-minutes", "30")
    assert direct.returncode == 0, direct.stderr
    assert "removed 1 payload(s)" in direct.stdout and "no covalent-nb dispatcher runs" in direct.stdout
    assert not (blobs / key[:2] / key[2:]).exists() and temp_files(server) == []
    assert all(stored(server, k) for k in keys_of(server, [dispatch_id]))
    bad = server.cli("gc", "--grace-minutes", "soon")
    assert bad.returncode == 2 and "not a number of minutes" in bad.stderr


def start_upload(server: RunningServer, size: int, sent: int) -> socket.socket:
    """A PUT of ``size`` bytes of which only ``sent`` were sent; the server holds a temp file for it."""
    sock = socket.create_connection((server.address, server.port))
    sock.sendall((f"PUT /api/v1/blobs/{'e' * 64} HTTP/1.1\r\nHost: x\r\nAuthorization: token {server.token}\r\n"
                  f"Content-Length: {size}\r\n\r\n").encode() + b"z" * sent)
    wait_for(lambda: len(temp_files(server)) == 1, "the upload's temp file")
    return sock


def test_cut_off_uploads_leave_no_temp_files_even_after_kill_9(tmp_path):
    server = start_server(tmp_path, workers=1, extra=("--no-cluster",))
    try:
        sock = start_upload(server, 4 * 1024 * 1024, 1024 * 1024)
        sock.close()                                      # the client goes away mid-body
        wait_for(lambda: temp_files(server) == [], "the cut-off upload's temp file removed")

        sock = start_upload(server, 4 * 1024 * 1024, 1024 * 1024)
        pid = int((server.data_dir / "server.pid").read_text())
        os.kill(pid, signal.SIGKILL)                      # no chance to clean up
        sock.close()
        wait_for(lambda: process_is_gone(pid), "the killed server gone")
        assert len(temp_files(server)) == 1
        again = server.cli("start", "--address", "127.0.0.1", "--port", str(server.port), "--no-cluster")
        assert again.returncode == 0, again.stderr
        assert temp_files(server) == []                   # removed at start
        assert "removed 1 temporary file(s) left by an earlier run" in (server.data_dir / "server.log").read_text()
    finally:
        server.cli("stop")


def test_keep_days_is_checked_where_it_enters(tmp_path):
    from covalent_nb.errors import ConfigError
    from covalent_nb.server.settings import ServerSettings

    assert ServerSettings(data_dir=tmp_path).keep_days == 0
    assert ServerSettings(data_dir=tmp_path, keep_days="0.5").keep_days == 0.5
    for bad in (-1, "soon", float("nan"), True):
        with pytest.raises(ConfigError, match="server.keep_days must be a number of days"):
            ServerSettings(data_dir=tmp_path, keep_days=bad)
