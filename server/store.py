"""The result manager's store: dispatches, tasks and their history in SQLite.

SQLite runs in WAL mode. Dispatch creation commits with ``synchronous=FULL``
(an acknowledged dispatch survives a power cut); the many small state changes
of a running dispatch are grouped into one transaction per event-loop turn by
the dispatcher (see :meth:`ResultStore.transaction`).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from pathlib import Path
from typing import Any, Iterable, Iterator

from .blobs import BlobStore

__all__ = ["ResultStore", "NODE_FIELDS"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS dispatches (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    created REAL NOT NULL,
    start_time REAL,
    end_time REAL,
    manifest TEXT NOT NULL,
    output_node INTEGER,
    output_key TEXT,
    error TEXT,
    parent_id TEXT,
    parent_node INTEGER,
    redispatch_of TEXT,
    node_count INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS dispatches_owner ON dispatches(owner, created);
CREATE INDEX IF NOT EXISTS dispatches_status ON dispatches(status);
CREATE TABLE IF NOT EXISTS nodes (
    dispatch_id TEXT NOT NULL,
    node_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    start_time REAL,
    end_time REAL,
    executor TEXT,
    output_key TEXT,
    output_size INTEGER,
    error TEXT,
    traceback TEXT,
    stdout TEXT,
    stderr TEXT,
    sub_dispatch_id TEXT,
    fingerprint TEXT,
    PRIMARY KEY (dispatch_id, node_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS node_history (
    dispatch_id TEXT NOT NULL,
    node_id INTEGER NOT NULL,
    status TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS node_history_dispatch ON node_history(dispatch_id, node_id);
CREATE TABLE IF NOT EXISTS dispatch_blobs (
    dispatch_id TEXT NOT NULL,
    key TEXT NOT NULL,
    PRIMARY KEY (dispatch_id, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS small_blobs (
    key TEXT PRIMARY KEY,
    data BLOB NOT NULL
) WITHOUT ROWID;
"""

NODE_FIELDS = ("node_id", "name", "kind", "status", "start_time", "end_time", "executor",
               "output_key", "output_size", "error", "traceback", "stdout", "stderr",
               "sub_dispatch_id", "fingerprint")
_DISPATCH_FIELDS = ("id", "owner", "name", "status", "created", "start_time", "end_time",
                    "output_node", "output_key", "error", "parent_id", "parent_node",
                    "redispatch_of", "node_count")


class ResultStore:
    """Durable records of every dispatch, its tasks and its payloads."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.data_dir / "results.db", isolation_level=None,
                                  check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_SCHEMA)
        self.blobs = BlobStore(self.data_dir / "blobs", self.db)
        self._depth = 0

    def close(self) -> None:
        """Close the database."""
        self.db.close()

    @contextlib.contextmanager
    def transaction(self, durable: bool = False) -> Iterator[None]:
        """One atomic write; ``durable`` syncs it to disk before returning."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        if durable:
            self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        else:
            self.db.execute("COMMIT")
        finally:
            self._depth = 0
            if durable:
                self.db.execute("PRAGMA synchronous=NORMAL")

    # ---- writes (call inside transaction()) ----------------------------------

    def insert_dispatch(self, record: dict[str, Any], manifest: dict[str, Any],
                        nodes: Iterable[dict[str, Any]], blob_keys: Iterable[str]) -> None:
        """Record a new dispatch, its tasks and the payloads it references."""
        now = record.get("created") or time.time()
        self.db.execute(
            "INSERT INTO dispatches(id, owner, name, status, created, manifest, output_node,"
            " parent_id, parent_node, redispatch_of, node_count) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (record["id"], record["owner"], record["name"], record["status"], now,
             json.dumps(manifest, separators=(",", ":")), record.get("output_node"),
             record.get("parent_id"), record.get("parent_node"), record.get("redispatch_of"),
             record["node_count"]))
        self.db.executemany(
            "INSERT INTO nodes(dispatch_id, node_id, name, kind, status, executor, fingerprint)"
            " VALUES (?,?,?,?,?,?,?)",
            [(record["id"], n["node_id"], n["name"], n["kind"], n["status"],
              json.dumps(n.get("executor")), n.get("fingerprint")) for n in nodes])
        self.db.executemany("INSERT OR IGNORE INTO dispatch_blobs(dispatch_id, key) VALUES (?,?)",
                            [(record["id"], key) for key in blob_keys])

    def update_dispatch(self, dispatch_id: str, **fields: Any) -> None:
        """Change some columns of a dispatch."""
        cols = ", ".join(f"{name}=?" for name in fields)
        self.db.execute(f"UPDATE dispatches SET {cols} WHERE id=?", (*fields.values(), dispatch_id))

    def update_node(self, dispatch_id: str, node_id: int, **fields: Any) -> None:
        """Change some columns of a task; a new status is added to its history."""
        cols = ", ".join(f"{name}=?" for name in fields)
        self.db.execute(f"UPDATE nodes SET {cols} WHERE dispatch_id=? AND node_id=?",
                        (*fields.values(), dispatch_id, node_id))
        if "status" in fields:
            self.db.execute("INSERT INTO node_history(dispatch_id, node_id, status, at) VALUES (?,?,?,?)",
                            (dispatch_id, node_id, fields["status"], time.time()))

    def add_dispatch_blob(self, dispatch_id: str, key: str) -> None:
        """Let the owner of ``dispatch_id`` read payload ``key``."""
        self.db.execute("INSERT OR IGNORE INTO dispatch_blobs(dispatch_id, key) VALUES (?,?)",
                        (dispatch_id, key))

    def delete_dispatch(self, dispatch_id: str) -> None:
        """Remove every record of a dispatch (payloads stay: they may be shared)."""
        for table, col in (("nodes", "dispatch_id"), ("node_history", "dispatch_id"),
                           ("dispatch_blobs", "dispatch_id"), ("dispatches", "id")):
            self.db.execute(f"DELETE FROM {table} WHERE {col}=?", (dispatch_id,))

    # ---- reads ---------------------------------------------------------------

    def get_dispatch(self, dispatch_id: str) -> dict[str, Any] | None:
        """A dispatch's record (without its manifest), or None."""
        row = self.db.execute(f"SELECT {', '.join(_DISPATCH_FIELDS)} FROM dispatches WHERE id=?",
                              (dispatch_id,)).fetchone()
        return None if row is None else dict(zip(_DISPATCH_FIELDS, row))

    def get_manifest(self, dispatch_id: str) -> dict[str, Any]:
        """The manifest a dispatch was created from (inline payloads removed)."""
        row = self.db.execute("SELECT manifest FROM dispatches WHERE id=?", (dispatch_id,)).fetchone()
        if row is None:
            raise KeyError(dispatch_id)
        return json.loads(row[0])

    def get_nodes(self, dispatch_id: str) -> list[dict[str, Any]]:
        """Every task of a dispatch, by node id."""
        rows = self.db.execute(f"SELECT {', '.join(NODE_FIELDS)} FROM nodes WHERE dispatch_id=?"
                               " ORDER BY node_id", (dispatch_id,)).fetchall()
        nodes = []
        for row in rows:
            node = dict(zip(NODE_FIELDS, row))
            node["executor"] = json.loads(node["executor"]) if node["executor"] else None
            nodes.append(node)
        return nodes

    def node_history(self, dispatch_id: str) -> list[tuple[int, str, float]]:
        """(node_id, status, time) for every status a dispatch's tasks went through."""
        return self.db.execute("SELECT node_id, status, at FROM node_history WHERE dispatch_id=?"
                               " ORDER BY rowid", (dispatch_id,)).fetchall()

    def list_dispatches(self, owner: str, limit: int = 100) -> list[dict[str, Any]]:
        """An owner's top-level dispatches, newest first, with task counts by status."""
        rows = self.db.execute(
            f"SELECT {', '.join(_DISPATCH_FIELDS)} FROM dispatches WHERE owner=? AND parent_id IS NULL"
            " ORDER BY created DESC LIMIT ?", (owner, limit)).fetchall()
        out = [dict(zip(_DISPATCH_FIELDS, row), progress={}) for row in rows]
        by_id = {record["id"]: record for record in out}
        for dispatch_id, status, count in self.db.execute(  # one query for every dispatch's counts
                "SELECT dispatch_id, status, count(*) FROM nodes WHERE dispatch_id IN"
                " (SELECT id FROM dispatches WHERE owner=? AND parent_id IS NULL ORDER BY created DESC LIMIT ?)"
                " GROUP BY dispatch_id, status", (owner, limit)).fetchall():
            by_id[dispatch_id]["progress"][status] = count
        return out

    def unfinished_dispatches(self) -> list[str]:
        """Ids of dispatches that were running when the server last stopped, oldest first."""
        rows = self.db.execute("SELECT id FROM dispatches WHERE status NOT IN"
                               " ('COMPLETED', 'FAILED', 'CANCELLED') ORDER BY created").fetchall()
        return [r[0] for r in rows]

    def dispatch_has_blob(self, dispatch_id: str, key: str) -> bool:
        """True when payload ``key`` belongs to the dispatch."""
        row = self.db.execute("SELECT 1 FROM dispatch_blobs WHERE dispatch_id=? AND key=?",
                              (dispatch_id, key)).fetchone()
        return row is not None

    def completed_by_fingerprint(self, dispatch_id: str) -> dict[str, dict[str, Any]]:
        """Completed tasks of a dispatch by fingerprint (for reuse on redispatch)."""
        rows = self.db.execute(
            "SELECT fingerprint, output_key, output_size, stdout, stderr, start_time, end_time"
            " FROM nodes WHERE dispatch_id=? AND status='COMPLETED' AND fingerprint IS NOT NULL"
            " AND output_key IS NOT NULL AND kind != 'parameter'", (dispatch_id,)).fetchall()
        cols = ("fingerprint", "output_key", "output_size", "stdout", "stderr", "start_time", "end_time")
        return {r[0]: dict(zip(cols, r)) for r in rows}
