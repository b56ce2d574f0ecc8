"""Stopping a task that was cancelled while a Dask worker runs it.

A Dask worker runs tasks in threads, and cancelling a Dask future only
forgets its result: the thread runs on to the end. The dispatcher stops such
a task in two steps (``DaskClusters.stop_running`` in the server):

1. :func:`interrupt_tasks`, run on every worker through ``Client.run``,
   raises :class:`TaskCancelled` in the thread that runs the task. That ends
   Python code at once, but not a call that blocks in C (``time.sleep``, a
   long NumPy operation, a socket read) until the call returns.
2. If the task still runs after a grace period (:func:`running_tasks`), the
   dispatcher restarts that worker's process through its nanny, but only when
   the worker has one and nothing else to lose (:func:`worker_can_restart`,
   run on the scheduler): no other task running or waiting there, and no
   result that other tasks still need and that only it holds. Otherwise the
   task ends when its C call returns.

:func:`run_task` marks its thread with :func:`stoppable`; a time-limited
task's child process is stopped with it.
"""

from __future__ import annotations

import ctypes
import threading
from contextlib import contextmanager
from typing import Any, Iterator

__all__ = ["TaskCancelled", "interrupt_tasks", "running_tasks", "stoppable", "worker_can_restart"]


class TaskCancelled(Exception):
    """Raised inside a running task whose dispatch, or the task itself, was cancelled."""


_lock = threading.Lock()
_running: dict[tuple[str, int], int] = {}
"""(dispatch id, node id) of each task running in this process -> the ident of its thread."""


@contextmanager
def stoppable(dispatch_id: str | None, node_id: int | None) -> Iterator[None]:
    """Run the body as task ``node_id`` of ``dispatch_id``, which :func:`interrupt_tasks` can stop."""
    if dispatch_id is None or node_id is None:
        yield
        return
    key = (dispatch_id, node_id)
    with _lock:
        _running[key] = threading.get_ident()
    try:
        yield
    finally:
        while True:  # an interruption that arrives now must not leave the task marked as running
            try:
                with _lock:
                    if _running.get(key) == threading.get_ident():
                        del _running[key]
                break
            except TaskCancelled:
                continue


def interrupt_tasks(tasks: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """Raise TaskCancelled in the threads of this process that run these tasks; return those it found."""
    found = []
    with _lock:
        for dispatch_id, node_id in tasks:
            ident = _running.get((dispatch_id, node_id))
            if ident is not None:
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), ctypes.py_object(TaskCancelled))
                found.append((dispatch_id, node_id))
    return found


def running_tasks(tasks: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """Those of these tasks that a thread of this process still runs."""
    with _lock:
        return [(dispatch_id, node_id) for dispatch_id, node_id in tasks if (dispatch_id, node_id) in _running]


def worker_can_restart(address: str, dask_scheduler: Any = None) -> bool:
    """On the scheduler: whether restarting worker ``address`` loses nothing that is still wanted.

    True when it has a nanny to start it again (Dask lets a worker without
    one go for good), no task is assigned to it any more (the cancelled one
    is forgotten by then) and every result it holds has a copy elsewhere.
    """
    worker = dask_scheduler.workers.get(address) if dask_scheduler is not None else None
    if worker is None or not worker.nanny or worker.processing:
        return False
    return all(len(task.who_has) > 1 for task in worker.has_what)
