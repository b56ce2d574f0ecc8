"""What the dispatcher does about Dask workers that die under a running dispatch.

A child chained on its parents' Dask futures (see the dispatcher) keeps their
keys alive in Dask. When the only worker holding a parent's result dies, Dask
computes the parent again, although the server has recorded its output. So,
once a task with chained children is COMPLETED, the dispatcher leaves a note
where its task frame says (``recorded``): the runner finds it and returns a
RECORDED frame instead of running the task's function again. The children
that get that frame are SKIPPED, and the dispatcher hands them to Dask again
with the recorded outputs from the store.

Notes cost little on the way of a task that nobody loses:

- on the local cluster (workers share this machine's disk) a note is a byte
  at offset ``node id`` of the dispatch's file ``<data dir>/recorded/<dispatch
  id>`` (sparse, written without fsync: the page cache is what the workers
  read), which the runner reads;
- on another cluster, or for node ids of 2**24 and more, it is an entry in the
  scheduler's metadata, ``[RECORDED_METADATA, session, dispatch id, node id]``,
  that the runner asks the scheduler for. ``session`` is new for each server
  process, so notes left by a server that was killed never match a task its
  successor runs. Such a note reaches the scheduler a few milliseconds after
  the COMPLETED status: a worker lost just then may still run the task again.

Notes are dropped when their dispatch ends, and the files when the server
starts (its local cluster is new). Workers' deaths reach the dispatcher as the
scheduler's ``remove-worker`` events; the tasks a dead worker had running are
run again by Dask, and the dispatcher notes that in their stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import uuid
import weakref
from pathlib import Path
from typing import Any, Callable, Iterable

from covalent_nb.executor.dask import RECORDED_METADATA

__all__ = ["WorkerLoss", "WorkersLost"]

log = logging.getLogger(__name__)

BYTE_NOTES = 1 << 24
"""Node ids below this are noted as a byte of the dispatch's file (at most 16 MiB, sparse)."""

WorkersLost = Callable[[str, Iterable[str], Iterable[str]], None]
"""Called as ``(worker address, keys it was running, computed keys lost with it)``."""


class WorkerLoss:
    """Leaves notes of recorded outputs for the runner, and reports the workers Dask clusters lose."""

    def __init__(self, notes_dir: Path, on_lost: WorkersLost) -> None:
        self.notes_dir = notes_dir
        self._prefix = os.path.join(notes_dir, "")  # a dispatch's notes file: prefix + dispatch id
        self._on_lost = on_lost
        self._session = uuid.uuid4().hex[:12]
        self._watched: weakref.WeakSet[Any] = weakref.WeakSet()
        self._remote: dict[str, list[Any]] = {}  # dispatch id -> clients whose schedulers have its notes
        self._sending: dict[str, set[asyncio.Task]] = {}  # dispatch id -> its notes on their way
        self._background: set[asyncio.Task] = set()
        shutil.rmtree(notes_dir, ignore_errors=True)  # a killed server's: its cluster died with it
        notes_dir.mkdir(mode=0o700, parents=True, exist_ok=True)

    # ---- notes ---------------------------------------------------------------------

    def where(self, local: bool, dispatch_id: str, node_id: int) -> dict[str, Any]:
        """Where the runner looks for the note of this task (the task frame's ``recorded``)."""
        if local and node_id < BYTE_NOTES:
            return {"file": self._prefix + dispatch_id, "byte": node_id}
        return {"scheduler": [RECORDED_METADATA, self._session, dispatch_id, node_id]}

    def note(self, client: Any | None, local: bool, dispatch_id: str, node_id: int) -> None:
        """Leave the note that this task's output is recorded (on ``client``'s cluster unless local)."""
        if local and node_id < BYTE_NOTES:
            fd = os.open(self._prefix + dispatch_id, os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                os.pwrite(fd, b"\x01", node_id)
            finally:
                os.close(fd)
            return
        if client is None:  # no longer connected: its futures, and the chained children, are gone
            return
        clients = self._remote.setdefault(dispatch_id, [])
        if client not in clients:
            clients.append(client)
        keys = [RECORDED_METADATA, self._session, dispatch_id, node_id]
        sending = self._sending.setdefault(dispatch_id, set())
        task = self._keep(_quietly(client.set_metadata(keys, True), "note a recorded output"))
        sending.add(task)
        task.add_done_callback(sending.discard)

    def forget(self, dispatch_id: str) -> None:
        """Drop the dispatch's notes (it has ended)."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._prefix + dispatch_id)
        sending = self._sending.pop(dispatch_id, set())
        for client in self._remote.pop(dispatch_id, ()):
            self._keep(self._forget_remote(client, dispatch_id, set(sending)))

    async def _forget_remote(self, client: Any, dispatch_id: str, sending: set[asyncio.Task]) -> None:
        if sending:  # after them, so that no late note outlives the dispatch
            await asyncio.wait(sending)
        # The scheduler's set_metadata cannot delete: an ended dispatch keeps an empty entry.
        await _quietly(client.set_metadata([RECORDED_METADATA, self._session, dispatch_id], None),
                       "drop the notes of recorded outputs")

    def _keep(self, coro: Any) -> asyncio.Task:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    def close(self) -> None:
        """Stop sending notes."""
        for task in list(self._background):
            task.cancel()

    # ---- lost workers --------------------------------------------------------------

    def watch(self, client: Any) -> None:
        """Hear of the workers that leave this client's cluster (once per client)."""
        if client in self._watched:
            return
        self._watched.add(client)
        scheduler = getattr(getattr(client, "cluster", None), "scheduler", None)
        if hasattr(scheduler, "add_plugin"):  # in this process: told directly, not for every event
            scheduler.add_plugin(_listener(self._event), name="covalent-nb-worker-loss")
        else:  # the 'all' topic also carries an event for every gather: a few bytes per task
            client.subscribe_topic("all", lambda event: self._event("all", event[1]))

    def _event(self, topic: str, message: Any) -> None:
        if topic != "all" or not isinstance(message, dict) or message.get("action") != "remove-worker":
            return
        try:
            self._on_lost(str(message.get("worker", "?")), message.get("processing-tasks") or (),
                          message.get("lost-computed-tasks") or ())
        except Exception:  # never break the scheduler's or the client's event handling
            log.exception("handling the loss of Dask worker %s failed", message.get("worker"))


def _listener(on_event: Callable[[str, Any], None]) -> Any:
    """A scheduler plugin that passes every event the scheduler logs to ``on_event(topic, message)``."""
    from distributed.diagnostics.plugin import SchedulerPlugin

    class EventListener(SchedulerPlugin):
        def log_event(self, topic: str, msg: Any) -> None:
            on_event(topic, msg)

    return EventListener()


async def _quietly(call: Any, what: str) -> None:
    try:
        await call
    except Exception as exc:  # the scheduler is gone or refuses: its tasks run as without notes
        log.warning("could not %s on the Dask scheduler: %s", what, exc)
