"""The result manager's store: dispatches, tasks and their history in SQLite.

One connection, used only from the event loop's thread, and one
transaction discipline for it (at most one transaction is open at a time):

- the many small state changes of running dispatches *join* the current
  turn's transaction (:meth:`ResultStore.join`), which the state writer
  commits at the end of the event-loop turn (:meth:`ResultStore.commit_turn`)
  before it announces them;
- :meth:`ResultStore.transaction` is an atomic group of writes. Inside the
  turn's open transaction it is a savepoint of it; ``durable=True`` (what is
  acknowledged to a client: a new dispatch, an upload, a deletion) first
  commits the turn's writes, then commits its own with ``synchronous=FULL``
  before the block ends (a power cut loses nothing acknowledged). SQLite
  cannot change ``synchronous`` inside a transaction, hence the order.

SQLite runs in WAL mode with ``synchronous=NORMAL`` otherwise. The log is
copied back into the database by a thread of its own, never inside a commit
on the event loop (server/wal_checkpoint.py).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from pathlib import Path
from typing import Any, Iterable, Iterator

from covalent_nb._status import TERMINAL
from covalent_nb.notebook import node_kinds

from .blobs import BlobStore
from .wal_checkpoint import WalCheckpointer

__all__ = ["ResultStore", "NODE_FIELDS", "IDEMPOTENCY_SECONDS", "TASK_KINDS"]

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
CREATE INDEX IF NOT EXISTS dispatches_listing ON dispatches(owner, parent_id, created, id);
CREATE INDEX IF NOT EXISTS dispatches_status ON dispatches(status);
CREATE INDEX IF NOT EXISTS dispatches_parent ON dispatches(parent_id);
CREATE INDEX IF NOT EXISTS dispatches_ended ON dispatches(end_time);
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
    preview TEXT,
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
CREATE INDEX IF NOT EXISTS dispatch_blobs_key ON dispatch_blobs(key);
CREATE TABLE IF NOT EXISTS small_blobs (
    key TEXT PRIMARY KEY,
    data BLOB NOT NULL,
    stored REAL NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS idempotency_keys (
    owner TEXT NOT NULL,
    key TEXT NOT NULL,
    digest TEXT NOT NULL,
    dispatch_id TEXT NOT NULL,
    warnings TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (owner, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS idempotency_created ON idempotency_keys(created);
CREATE INDEX IF NOT EXISTS idempotency_dispatch ON idempotency_keys(dispatch_id);
CREATE TABLE IF NOT EXISTS blob_holders (
    key TEXT NOT NULL,
    owner TEXT NOT NULL,
    PRIMARY KEY (key, owner)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS creating (
    dispatch_id TEXT PRIMARY KEY
) WITHOUT ROWID;
"""

NODE_FIELDS = ("node_id", "name", "kind", "status", "start_time", "end_time", "executor",
               "output_key", "output_size", "error", "traceback", "stdout", "stderr",
               "sub_dispatch_id", "fingerprint")
_DISPATCH_FIELDS = ("id", "owner", "name", "status", "created", "start_time", "end_time",
                    "output_node", "output_key", "error", "parent_id", "parent_node",
                    "redispatch_of", "node_count")
_TERMINAL = tuple(sorted(status.value for status in TERMINAL))
TASK_KINDS = tuple(sorted(node_kinds.TASK_KINDS))
"""The kinds of the user's tasks (electrons and sublattices), as every display counts them."""
"""Node kinds that are the user's tasks (the others are parameters and helpers): listings count them."""
IDEMPOTENCY_SECONDS = 24 * 3600.0
"""How long a dispatch's idempotency key answers a retried request."""


class ResultStore:
    """Durable records of every dispatch, its tasks and its payloads."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.data_dir / "results.db", isolation_level=None,
                                  check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA wal_autocheckpoint=0")  # checkpoints run off the event loop:
        self._checkpointer = WalCheckpointer(self.data_dir / "results.db")  # see server/wal_checkpoint.py
        _migrate(self.db)
        self.db.executescript(_SCHEMA)
        self.blobs = BlobStore(self.data_dir / "blobs", self.db)
        self._depth = 0
        self._durable = False
        self._drop_unfinished_creations()

    def close(self) -> None:
        """Close the database."""
        self._checkpointer.stop()
        self.db.close()

    def join(self) -> None:
        """Make sure a transaction is open for this turn's grouped writes (see :meth:`commit_turn`)."""
        if not self.db.in_transaction:
            self.db.execute("BEGIN IMMEDIATE")

    def commit_turn(self) -> bool:
        """Commit the turn's grouped writes; False (nothing done) while a transaction() block runs."""
        if self._depth:
            return False
        if self.db.in_transaction:
            self.db.execute("COMMIT")
        return True

    @contextlib.contextmanager
    def transaction(self, durable: bool = False) -> Iterator[None]:
        """One atomic group of writes; ``durable`` commits it to disk (fsync) before the block ends.

        Nested blocks are part of the outermost one (which must then be durable
        if they ask to be). Never await inside: the connection is shared.
        """
        if self._depth:
            if durable and not self._durable:
                raise RuntimeError("a durable transaction cannot run inside a non-durable one")
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        if durable and self.db.in_transaction:
            self.db.execute("COMMIT")  # the turn's grouped writes first: then synchronous can change
        if self.db.in_transaction:
            with self._savepoint():
                yield
            return
        if durable:
            self.db.execute("PRAGMA synchronous=FULL")
        self._durable = durable
        self._depth = 1
        try:
            self.db.execute("BEGIN IMMEDIATE")
            yield
            self.db.execute("COMMIT")
        except BaseException:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise
        finally:
            self._depth = 0
            self._durable = False
            if durable:
                self.db.execute("PRAGMA synchronous=NORMAL")

    @contextlib.contextmanager
    def _savepoint(self) -> Iterator[None]:
        """A block of writes inside the turn's open transaction, undone alone if it fails."""
        self._depth = 1
        self.db.execute("SAVEPOINT block")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK TO block")
            self.db.execute("RELEASE block")
            raise
        else:
            self.db.execute("RELEASE block")
        finally:
            self._depth = 0

    # ---- writes (call inside transaction()) ----------------------------------

    def insert_dispatch(self, record: dict[str, Any], manifest: dict[str, Any] | str,
                        nodes: Iterable[dict[str, Any]], blob_keys: Iterable[str]) -> None:
        """Record a new dispatch, its tasks and the payloads it references.

        ``manifest`` may come as its JSON text already. Tasks recorded before by
        :meth:`insert_nodes` belong to the dispatch from now on.
        """
        now = record.get("created") or time.time()
        text = manifest if isinstance(manifest, str) else json.dumps(manifest, separators=(",", ":"))
        self.db.execute(
            "INSERT INTO dispatches(id, owner, name, status, created, manifest, output_node,"
            " parent_id, parent_node, redispatch_of, node_count) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (record["id"], record["owner"], record["name"], record["status"], now,
             text, record.get("output_node"),
             record.get("parent_id"), record.get("parent_node"), record.get("redispatch_of"),
             record["node_count"]))
        self._insert_node_rows(record["id"], nodes)
        self.db.execute("DELETE FROM creating WHERE dispatch_id=?", (record["id"],))
        keys = set(blob_keys)
        self.db.executemany("INSERT OR IGNORE INTO dispatch_blobs(dispatch_id, key) VALUES (?,?)",
                            [(record["id"], key) for key in keys])
        self.blobs.claim(keys)

    def insert_nodes(self, dispatch_id: str, nodes: Iterable[dict[str, Any]]) -> None:
        """Record some tasks of a dispatch before the dispatch itself (a big one's tasks, in slices).

        They belong to no dispatch until :meth:`insert_dispatch` records it;
        :meth:`drop_creation`, or the next opening of the store, removes them
        if it never does.
        """
        self.db.execute("INSERT OR IGNORE INTO creating(dispatch_id) VALUES (?)", (dispatch_id,))
        self._insert_node_rows(dispatch_id, nodes)

    def drop_creation(self, dispatch_id: str) -> None:
        """Remove the tasks :meth:`insert_nodes` recorded for a dispatch that was not recorded after all."""
        if self.db.execute("SELECT 1 FROM creating WHERE dispatch_id=?", (dispatch_id,)).fetchone():
            self.db.execute("DELETE FROM nodes WHERE dispatch_id=?", (dispatch_id,))
            self.db.execute("DELETE FROM creating WHERE dispatch_id=?", (dispatch_id,))

    def _drop_unfinished_creations(self) -> None:
        """Tasks of dispatches whose creation a stop cut off, never acknowledged: gone."""
        for (dispatch_id,) in self.db.execute("SELECT dispatch_id FROM creating").fetchall():
            with self.transaction():
                self.drop_creation(dispatch_id)

    def _insert_node_rows(self, dispatch_id: str, nodes: Iterable[dict[str, Any]]) -> None:
        self.db.executemany(
            "INSERT INTO nodes(dispatch_id, node_id, name, kind, status, executor, fingerprint, preview)"
            " VALUES (?,?,?,?,?,?,?,?)",
            [(dispatch_id, n["node_id"], n["name"], n["kind"], n["status"],
              json.dumps(n.get("executor")), n.get("fingerprint"), n.get("preview")) for n in nodes])

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

    def delete_dispatches(self, dispatch_ids: list[str]) -> set[str]:
        """Remove every record of these dispatches; the payload keys they named.

        Payloads stay: another dispatch may name them (see :meth:`unreferenced`).
        """
        keys: set[str] = set()
        for dispatch_id in dispatch_ids:
            keys.update(r[0] for r in self.db.execute("SELECT key FROM dispatch_blobs WHERE dispatch_id=?",
                                                      (dispatch_id,)))
            for table, col in (("nodes", "dispatch_id"), ("node_history", "dispatch_id"),
                               ("dispatch_blobs", "dispatch_id"), ("idempotency_keys", "dispatch_id"),
                               ("dispatches", "id")):
                self.db.execute(f"DELETE FROM {table} WHERE {col}=?", (dispatch_id,))
        return keys

    def remember_request(self, owner: str, key: str, digest: str, dispatch_id: str,
                         warnings: list[dict[str, Any]]) -> None:
        """Keep the answer to a ``POST dispatches`` with an idempotency key (and drop expired ones)."""
        now = time.time()
        self.db.execute("DELETE FROM idempotency_keys WHERE created < ?", (now - IDEMPOTENCY_SECONDS,))
        self.db.execute("INSERT OR REPLACE INTO idempotency_keys(owner, key, digest, dispatch_id, warnings,"
                        " created) VALUES (?,?,?,?,?,?)",
                        (owner, key, digest, dispatch_id, json.dumps(warnings), now))

    # ---- reads ---------------------------------------------------------------

    def get_dispatch(self, dispatch_id: str) -> dict[str, Any] | None:
        """A dispatch's record (without its manifest), or None."""
        row = self.db.execute(f"SELECT {', '.join(_DISPATCH_FIELDS)} FROM dispatches WHERE id=?",
                              (dispatch_id,)).fetchone()
        return None if row is None else dict(zip(_DISPATCH_FIELDS, row))

    def get_manifest(self, dispatch_id: str) -> dict[str, Any]:
        """The manifest a dispatch was created from (inline payloads removed)."""
        return json.loads(self.manifest_text(dispatch_id))

    def manifest_text(self, dispatch_id: str) -> str:
        """The manifest a dispatch was created from, as its JSON text (see :meth:`get_manifest`)."""
        row = self.db.execute("SELECT manifest FROM dispatches WHERE id=?", (dispatch_id,)).fetchone()
        if row is None:
            raise KeyError(dispatch_id)
        return row[0]

    def get_nodes(self, dispatch_id: str, after: int | None = None, limit: int = -1) -> list[dict[str, Any]]:
        """The tasks of a dispatch, by node id: every one, or (a page) at most ``limit`` of those
        with an id after ``after``."""
        where, args = "dispatch_id=?", [dispatch_id]
        if after is not None:
            where += " AND node_id > ?"
            args.append(after)
        rows = self.db.execute(f"SELECT {', '.join(NODE_FIELDS)} FROM nodes WHERE {where}"
                               " ORDER BY node_id LIMIT ?", (*args, limit)).fetchall()
        nodes = []
        for row in rows:
            node = dict(zip(NODE_FIELDS, row))
            node["executor"] = json.loads(node["executor"]) if node["executor"] else None
            nodes.append(node)
        return nodes

    def node_statuses(self, dispatch_id: str, after: int | None = None, limit: int = -1) -> list[tuple[int, str]]:
        """``(node_id, status)`` of a dispatch's tasks, by node id (a page: as :meth:`get_nodes`)."""
        where, args = "dispatch_id=?", [dispatch_id]
        if after is not None:
            where += " AND node_id > ?"
            args.append(after)
        return self.db.execute(f"SELECT node_id, status FROM nodes WHERE {where} ORDER BY node_id LIMIT ?",
                               (*args, limit)).fetchall()

    def node_history(self, dispatch_id: str, node_id: int | None = None) -> list[tuple[int, str, float]]:
        """(node_id, status, time) for every status a dispatch's tasks (or one of them) went through."""
        if node_id is not None:
            return self.db.execute("SELECT node_id, status, at FROM node_history WHERE dispatch_id=?"
                                   " AND node_id=? ORDER BY rowid", (dispatch_id, node_id)).fetchall()
        return self.db.execute("SELECT node_id, status, at FROM node_history WHERE dispatch_id=?"
                               " ORDER BY rowid", (dispatch_id,)).fetchall()

    def get_node(self, dispatch_id: str, node_id: int) -> dict[str, Any] | None:
        """One task's record with its ``preview`` (the text of its value), or None."""
        row = self.db.execute(f"SELECT {', '.join(NODE_FIELDS)}, preview FROM nodes WHERE dispatch_id=?"
                              " AND node_id=?", (dispatch_id, node_id)).fetchone()
        if row is None:
            return None
        node = dict(zip((*NODE_FIELDS, "preview"), row))
        node["executor"] = json.loads(node["executor"]) if node["executor"] else None
        return node

    def node_summaries(self, dispatch_id: str, node_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
        """Name, kind, status and preview of some tasks of a dispatch, by node id."""
        out: dict[int, dict[str, Any]] = {}
        ids = list(node_ids)
        for start in range(0, len(ids), 500):
            part = ids[start:start + 500]
            for node_id, name, kind, status, preview in self.db.execute(
                    f"SELECT node_id, name, kind, status, preview FROM nodes WHERE dispatch_id=? AND node_id IN"
                    f" ({','.join('?' * len(part))})", (dispatch_id, *part)):
                out[node_id] = {"name": name, "kind": kind, "status": status, "preview": preview}
        return out

    def list_dispatches(self, owner: str | None, limit: int = 100, before: tuple[float, str] | None = None,
                        statuses: Iterable[str] = (), search: str | None = None) -> list[dict[str, Any]]:
        """An owner's top-level dispatches (every owner's when None), newest first (then by id), with task
        counts by status.

        ``before`` ``(created, id)``: only those after that one in this order (the
        next page); ``statuses``: only those with one of these statuses;
        ``search``: only those whose id starts with it or whose name contains it
        (any case). ``progress`` counts every node by status, ``task_progress``
        only the user's tasks (:data:`TASK_KINDS`).
        """
        where, args = self._listing_filter(owner, statuses, search)
        if before is not None:
            where += " AND (created < ? OR (created = ? AND id < ?))"
            args += [before[0], before[0], before[1]]
        rows = self.db.execute(
            f"SELECT {', '.join(_DISPATCH_FIELDS)} FROM dispatches WHERE {where}"
            " ORDER BY created DESC, id DESC LIMIT ?", (*args, limit)).fetchall()
        out = [dict(zip(_DISPATCH_FIELDS, row), progress={}, task_progress={}) for row in rows]
        by_id = {record["id"]: record for record in out}
        ids = list(by_id)
        for start in range(0, len(ids), 500):  # one query per 500 dispatches for their counts
            part = ids[start:start + 500]
            for dispatch_id, status, is_task, count in self.db.execute(
                    f"SELECT dispatch_id, status, kind IN {TASK_KINDS}, count(*) FROM nodes WHERE dispatch_id IN"
                    f" ({','.join('?' * len(part))}) GROUP BY 1, 2, 3", part).fetchall():
                record = by_id[dispatch_id]
                record["progress"][status] = record["progress"].get(status, 0) + count
                if is_task:
                    record["task_progress"][status] = count
        return out

    def count_dispatches(self, owner: str | None, statuses: Iterable[str] = (), search: str | None = None) -> int:
        """How many dispatches :meth:`list_dispatches` lists, all pages together."""
        where, args = self._listing_filter(owner, statuses, search)
        return self.db.execute(f"SELECT count(*) FROM dispatches WHERE {where}", args).fetchone()[0]

    @staticmethod
    def _listing_filter(owner: str | None, statuses: Iterable[str], search: str | None) -> tuple[str, list[Any]]:
        where, args = ("parent_id IS NULL", []) if owner is None else ("owner=? AND parent_id IS NULL", [owner])
        statuses = list(statuses)
        if statuses:
            where += f" AND status IN ({','.join('?' * len(statuses))})"
            args += statuses
        if search:
            pattern = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            where += " AND (id LIKE ? ESCAPE '\\' OR name LIKE ? ESCAPE '\\')"
            args += [pattern + "%", "%" + pattern + "%"]
        return where, args

    def unfinished_dispatches(self) -> list[str]:
        """Ids of dispatches that were running when the server last stopped, oldest first."""
        rows = self.db.execute("SELECT id FROM dispatches WHERE status NOT IN (?,?,?) ORDER BY created",
                               _TERMINAL).fetchall()
        return [r[0] for r in rows]

    def dispatch_tree(self, dispatch_id: str) -> list[str]:
        """The dispatch and its sub-dispatches, at any depth."""
        rows = self.db.execute("WITH RECURSIVE tree(id) AS (SELECT ? UNION SELECT d.id FROM dispatches d"
                               " JOIN tree ON d.parent_id = tree.id) SELECT id FROM tree", (dispatch_id,))
        return [r[0] for r in rows]

    def finished_before(self, cutoff: float, limit: int) -> list[str]:
        """Top-level dispatches that ended before ``cutoff`` (a time), oldest first, at most ``limit``."""
        rows = self.db.execute(
            "SELECT id FROM dispatches WHERE end_time < ? AND parent_id IS NULL AND status IN (?,?,?)"
            " ORDER BY end_time LIMIT ?", (cutoff, *_TERMINAL, limit)).fetchall()
        return [r[0] for r in rows]

    def unreferenced(self, keys: Iterable[str]) -> list[str]:
        """Those of ``keys`` that no dispatch names."""
        return [key for key in keys if self.db.execute(
            "SELECT 1 FROM dispatch_blobs WHERE key=? LIMIT 1", (key,)).fetchone() is None]

    def find_request(self, owner: str, key: str) -> tuple[str, str, list[dict[str, Any]]] | None:
        """``(digest, dispatch_id, warnings)`` of an earlier ``POST dispatches`` with this idempotency
        key (not expired), or None."""
        row = self.db.execute("SELECT digest, dispatch_id, warnings FROM idempotency_keys WHERE owner=?"
                              " AND key=? AND created >= ?",
                              (owner, key, time.time() - IDEMPOTENCY_SECONDS)).fetchone()
        return None if row is None else (row[0], row[1], json.loads(row[2]))

    def payload_usable(self, owner: str, key: str) -> bool:
        """True when ``owner`` may name stored payload ``key`` in a manifest: it uploaded it, or one of
        its dispatches names it. Knowing another user's payload key is not enough to read it."""
        if not self.blobs.has(key):
            return False
        if self.blobs.held_by(owner, key):
            return True
        row = self.db.execute("SELECT 1 FROM dispatch_blobs b JOIN dispatches d ON d.id = b.dispatch_id"
                              " WHERE b.key=? AND d.owner=? LIMIT 1", (key, owner)).fetchone()
        return row is not None

    def dispatch_has_blob(self, dispatch_id: str, key: str) -> bool:
        """True when payload ``key`` belongs to the dispatch."""
        row = self.db.execute("SELECT 1 FROM dispatch_blobs WHERE dispatch_id=? AND key=?",
                              (dispatch_id, key)).fetchone()
        return row is not None

    def completed_by_fingerprint(self, dispatch_id: str) -> dict[str, dict[str, Any]]:
        """Completed tasks of a dispatch by fingerprint (for reuse on redispatch)."""
        rows = self.db.execute(
            "SELECT fingerprint, output_key, output_size, stdout, stderr, start_time, end_time, preview"
            " FROM nodes WHERE dispatch_id=? AND status='COMPLETED' AND fingerprint IS NOT NULL"
            " AND output_key IS NOT NULL AND kind != 'parameter'", (dispatch_id,)).fetchall()
        cols = ("fingerprint", "output_key", "output_size", "stdout", "stderr", "start_time", "end_time", "preview")
        return {r[0]: dict(zip(cols, r)) for r in rows}


def _migrate(db: sqlite3.Connection) -> None:
    """Bring a database written by an earlier release up to this schema (before ``_SCHEMA`` runs)."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(small_blobs)")}
    if columns and "stored" not in columns:
        db.execute("ALTER TABLE small_blobs ADD COLUMN stored REAL NOT NULL DEFAULT 0")
    columns = {row[1] for row in db.execute("PRAGMA table_info(nodes)")}
    if columns and "preview" not in columns:  # the text previews of values (older tasks have none)
        db.execute("ALTER TABLE nodes ADD COLUMN preview TEXT")
