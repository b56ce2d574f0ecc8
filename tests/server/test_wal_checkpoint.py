"""The store's write-ahead log is checkpointed by a thread of its own, never inside a commit of the store."""

from __future__ import annotations

import sqlite3
import time

from covalent_nb.server.store import ResultStore
from covalent_nb.server.wal_checkpoint import CHECKPOINT_BYTES
from tests.conftest import wait_for


def wal_frames(path) -> tuple[int, int]:
    """(frames in the log, frames of it already copied into the database), asked on a connection of its own."""
    db = sqlite3.connect(path)
    try:
        _, logged, copied = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    finally:
        db.close()
    return logged, copied


def test_commits_leave_the_log_to_the_checkpoint_thread(tmp_path):
    store = ResultStore(tmp_path)
    try:
        assert store.db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
        payload = b"x" * 4000
        with store.transaction(durable=True):
            for i in range(2 * CHECKPOINT_BYTES // len(payload)):
                store.db.execute("INSERT INTO small_blobs(key, data, stored) VALUES (?, ?, ?)",
                                 (f"{i:064x}", payload, time.time()))
        wait_for(lambda: store._checkpointer.checkpoints >= 1, "the thread checkpointing the log", timeout=10)
        assert (tmp_path / "results.db").stat().st_size >= CHECKPOINT_BYTES, "the log was copied into the database"
        logged, copied = wal_frames(tmp_path / "results.db")
        assert logged > 0 and copied == logged
        assert store.db.execute("SELECT count(*) FROM small_blobs").fetchone()[0] == 2 * CHECKPOINT_BYTES // len(payload)
    finally:
        store.close()
    assert not store._checkpointer._thread.is_alive()
