"""Checkpoints of the store's write-ahead log, off the event loop's thread.

SQLite in WAL mode copies the log back into the database file (a
checkpoint, with an fsync) inside whichever commit finds the log past 1000
pages. With the store's one connection on the event loop, that commit held
the loop for 100 ms and more after a big dispatch was stored (tens of MB of
log). So the store's connection never checkpoints (``wal_autocheckpoint=0``)
and :class:`WalCheckpointer` does it from a thread of its own, on a
connection of its own: a PASSIVE checkpoint, which never waits for the
writer nor makes it wait, whenever the log has grown past
:data:`CHECKPOINT_BYTES`.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

__all__ = ["CHECKPOINT_BYTES", "CHECK_SECONDS", "WalCheckpointer"]

log = logging.getLogger(__name__)

CHECKPOINT_BYTES = 4 * 1024 * 1024
"""A log at least this long is checkpointed (SQLite's own default is 1000 pages of 4 KiB)."""
CHECK_SECONDS = 0.5
"""How often the thread looks at the log's length."""


class WalCheckpointer:
    """A daemon thread that checkpoints the database at ``db_path`` when its log has grown."""

    def __init__(self, db_path: Path, every: float = CHECK_SECONDS, min_bytes: int = CHECKPOINT_BYTES) -> None:
        self.db_path = Path(db_path)
        self.wal_path = self.db_path.with_name(self.db_path.name + "-wal")
        self.every, self.min_bytes = every, min_bytes
        self.checkpoints = 0
        """How many checkpoints the thread has run."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wal-checkpoint", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread (before the store's connection closes)."""
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        db = sqlite3.connect(self.db_path, isolation_level=None, check_same_thread=False)
        done = None  # the log's (size, mtime) when it was last checkpointed
        try:
            while not self._stop.wait(self.every):
                try:
                    stat = self.wal_path.stat()
                    if stat.st_size >= self.min_bytes and (stat.st_size, stat.st_mtime_ns) != done:
                        db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                        self.checkpoints += 1
                        done = (stat.st_size, stat.st_mtime_ns)
                except FileNotFoundError:
                    continue
                except sqlite3.Error as exc:  # busy or locked: the next look tries again
                    log.debug("WAL checkpoint skipped: %s", exc)
        finally:
            db.close()
