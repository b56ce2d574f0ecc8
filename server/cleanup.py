"""Deleting dispatches, keeping only recent ones, and collecting what nothing uses.

- :meth:`Cleaner.delete`: a finished dispatch, its sub-dispatches and the
  payloads no other dispatch names (``DELETE api/v1/dispatches/{id}``);
- :meth:`Cleaner.keep_recent`: the server's periodic task that deletes
  dispatches which ended more than ``[server] keep_days`` ago, a few at a
  time so the event loop never waits long;
- :meth:`Cleaner.collect_garbage`: payloads no dispatch names, stored more
  than a grace period ago (an upload may be waiting for its manifest), and
  leftover temporary files (``POST api/v1/gc``, ``covalent-nb gc``);
- :meth:`Cleaner.remove_temp_files`: what a crash left in ``blobs/tmp``, at start.

Records go first (durably), payloads after: a crash in between leaves
payloads nothing names, which the next collection removes, never a record
naming a payload that is gone.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any, Callable

from covalent_nb._status import TERMINAL, Status

from .blobs import GRACE_SECONDS
from .data_lock import DataDirLock
from .store import ResultStore

__all__ = ["Cleaner", "DispatchBusy", "DispatchGone", "DELETE_BATCH", "PARTIAL_SPILL_SECONDS",
           "collect_garbage_offline"]

log = logging.getLogger(__name__)

DELETE_BATCH = 20
"""Dispatches the retention task deletes per turn of the event loop."""
GC_BATCH = 500
"""Stored payloads garbage collection looks at per turn of the event loop."""
PARTIAL_SPILL_SECONDS = 600.0
"""A task runner's partial spill file younger than this may still be written: it stays."""
_DAY = 86400.0


class DispatchGone(KeyError):
    """No dispatch with that id belongs to the caller."""


class DispatchBusy(RuntimeError):
    """The dispatch cannot be deleted now (it runs, or it is part of another); the message says why."""


class Cleaner:
    """Removes dispatches and payloads from one store.

    ``is_running(dispatch_id)`` tells which dispatches run now; ``flush()``
    commits the dispatcher's pending state changes first (both are no-ops
    when no dispatcher runs, as in ``covalent-nb gc`` without a server).
    """

    def __init__(self, store: ResultStore, is_running: Callable[[str], bool] = lambda _id: False,
                 flush: Callable[[], None] = lambda: None) -> None:
        self.store = store
        self.is_running = is_running
        self.flush = flush

    # ---- one dispatch --------------------------------------------------------------

    def delete(self, owner: str, dispatch_id: str) -> dict[str, Any]:
        """Delete a finished dispatch of ``owner`` with its sub-dispatches and the payloads only it used.

        DispatchGone when it is not the owner's; DispatchBusy while it runs or
        when it is a sub-dispatch (deleted with its parent).
        """
        self.flush()
        record = self.store.get_dispatch(dispatch_id)
        if record is None or record["owner"] != owner:
            raise DispatchGone(f"no dispatch with id {dispatch_id!r}")
        if record["parent_id"]:
            raise DispatchBusy(f"dispatch {dispatch_id} is a sublattice of dispatch {record['parent_id']}; "
                               "it is deleted with that one")
        return self._delete_tree(dispatch_id)

    def _delete_tree(self, dispatch_id: str) -> dict[str, Any]:
        tree = self.store.dispatch_tree(dispatch_id)
        for member in tree:
            record = self.store.get_dispatch(member)
            if self.is_running(member) or (record and Status(record["status"]) not in TERMINAL):
                which = "it is" if member == dispatch_id else f"its sublattice dispatch {member} is"
                raise DispatchBusy(f"dispatch {dispatch_id} cannot be deleted while {which} running; "
                                   f"cancel it first (ct.cancel({dispatch_id!r})) or wait for it to end")
        with self.store.transaction(durable=True):
            keys = self.store.delete_dispatches(tree)
        removed, freed = self._remove_payloads(self.store.unreferenced(keys))
        return {"dispatch_id": dispatch_id, "deleted": tree, "payloads_removed": removed, "bytes_freed": freed}

    def _remove_payloads(self, keys: list[str], grace_seconds: float = GRACE_SECONDS) -> tuple[int, int]:
        """Remove payloads nothing names, except uploads of the last ``grace_seconds`` (their
        manifest may be on its way)."""
        blobs = self.store.blobs
        keys = [key for key in keys if not blobs.awaits_manifest(key, grace_seconds)]
        freed = 0
        with self.store.transaction():
            for key in keys:
                freed += blobs.remove(key)
        return len(keys), freed

    # ---- retention -----------------------------------------------------------------

    async def remove_expired(self, keep_days: float) -> int:
        """Delete the finished top-level dispatches that ended more than ``keep_days`` ago; how many."""
        cutoff = time.time() - keep_days * _DAY
        deleted = 0
        skipped: set[str] = set()
        while True:
            self.flush()
            batch = [i for i in self.store.finished_before(cutoff, DELETE_BATCH + len(skipped)) if i not in skipped]
            if not batch:
                return deleted
            for dispatch_id in batch[:DELETE_BATCH]:
                try:
                    self._delete_tree(dispatch_id)
                    deleted += 1
                except DispatchBusy:  # a sublattice still runs: another time
                    skipped.add(dispatch_id)
            await asyncio.sleep(0)

    async def keep_recent(self, keep_days: float) -> None:
        """Forever: delete what ended more than ``keep_days`` ago (0: keep everything, return at once).

        Checks every hour, or sooner when ``keep_days`` is short.
        """
        if keep_days <= 0:
            return
        every = min(3600.0, max(0.5, keep_days * _DAY / 4))
        while True:
            try:
                deleted = await self.remove_expired(keep_days)
                if deleted:
                    log.info("deleted %d dispatch(es) that ended more than %g day(s) ago (server.keep_days)",
                             deleted, keep_days)
            except Exception:  # keep the task alive; the next round tries again
                log.exception("deleting old dispatches failed")
            await asyncio.sleep(every)

    # ---- garbage -------------------------------------------------------------------

    async def collect_garbage(self, grace_seconds: float = GRACE_SECONDS) -> dict[str, int]:
        """Remove payloads no dispatch names that were stored more than ``grace_seconds`` ago, and
        leftover temporary files; what was removed."""
        self.flush()
        blobs = self.store.blobs
        cutoff = time.time() - grace_seconds
        old = [key for key, stored in blobs.stored_rows() if stored < cutoff]
        removed, freed = self._remove_payloads(self.store.unreferenced(old), grace_seconds)
        await asyncio.sleep(0)
        batch: list[str] = []
        for key, mtime in blobs.stored_files():
            if mtime < cutoff:
                batch.append(key)
            if len(batch) >= GC_BATCH:
                removed, freed = _add((removed, freed),
                                      self._remove_payloads(self.store.unreferenced(batch), grace_seconds))
                batch = []
                await asyncio.sleep(0)
        removed, freed = _add((removed, freed), self._remove_payloads(self.store.unreferenced(batch), grace_seconds))
        temp = self.remove_temp_files(partial_before=min(cutoff, time.time() - PARTIAL_SPILL_SECONDS))
        return {"payloads_removed": removed, "bytes_freed": freed, "temp_files_removed": temp}

    def remove_temp_files(self, partial_before: float | None = None) -> int:
        """Delete temporary files no upload in flight writes (and runners' partial spills older
        than ``partial_before``, by default ``PARTIAL_SPILL_SECONDS`` ago); how many."""
        if partial_before is None:
            partial_before = time.time() - PARTIAL_SPILL_SECONDS
        count = 0
        for path in self.store.blobs.temp_files(partial_before):
            try:
                path.unlink()
                count += 1
            except FileNotFoundError:
                continue
            except IsADirectoryError:
                log.warning("not a temporary file, left alone: %s", path)
        return count


def collect_garbage_offline(data_dir: Path, grace_seconds: float = GRACE_SECONDS) -> dict[str, int]:
    """Garbage collection in the data directory of a dispatcher that does not run.

    Holds the directory's lock meanwhile (DataDirBusy when a dispatcher has it:
    ask that one, ``POST api/v1/gc``).
    """
    lock = DataDirLock(data_dir)
    try:
        store = ResultStore(data_dir)
        try:
            return asyncio.run(Cleaner(store).collect_garbage(grace_seconds))
        finally:
            store.close()
    finally:
        lock.release()


def _add(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    return a[0] + b[0], a[1] + b[1]
