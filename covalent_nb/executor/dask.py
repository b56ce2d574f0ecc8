"""The Dask executor's spec: which Dask cluster runs a task.

The dispatcher service drives Dask itself rather than through :meth:`run`:
it submits :func:`covalent_nb.executor.runner.run_task` to the cluster with
the parents' Futures as arguments, so chained tasks flow worker to worker
without a round trip through the dispatcher. This class only names the
cluster: ``scheduler_address=None`` means the dispatcher's default cluster.

A chained task's result stays on the worker that made it until its children
have it. If that worker dies first, Dask computes the task again. Once the
dispatcher has recorded the task's output it leaves a note where the task
frame's ``recorded`` says; on a cluster that does not share the server's disk
that is an entry under ``RECORDED_METADATA`` in the scheduler's metadata, which
:func:`recorded_on_scheduler` looks up. The runner then returns a RECORDED
frame instead of calling the task's function again.
"""

from __future__ import annotations

from typing import Any, ClassVar

from covalent_nb.executor.base import BaseExecutor

__all__ = ["DaskExecutor", "RECORDED_METADATA", "recorded_on_scheduler"]

RECORDED_METADATA = "covalent-nb-recorded"
"""Top-level key of the scheduler's metadata under which recorded outputs are noted."""

_LOOKUP_TIMEOUT = 30.0


class DaskExecutor(BaseExecutor):
    """Run tasks on a Dask cluster: the dispatcher's own, or the one at ``scheduler_address``."""

    short_name: ClassVar[str] = "dask"
    attributes: ClassVar[dict[str, tuple[Any, Any]]] = {
        "scheduler_address": ((str, type(None)), None),
    }
    scheduler_address: str | None

    def __init__(self, scheduler_address: str | None = None) -> None:
        super().__init__(scheduler_address=scheduler_address)

    def run(self, task_frame: bytes, parent_frames: list[bytes], task_metadata: dict[str, Any]) -> bytes:
        """Not used: the dispatcher submits ``run_task`` to Dask directly."""
        raise NotImplementedError(
            "DaskExecutor.run is not called: the dispatcher drives Dask directly, "
            "submitting covalent_nb.executor.runner.run_task with the parents' Futures"
        )


def recorded_on_scheduler(keys: list[Any]) -> bool:
    """In a Dask worker: True when the scheduler's metadata holds a note at ``keys``.

    False outside a worker or when the scheduler cannot be asked: the task
    then runs, as it would without the note.
    """
    try:
        from distributed import get_worker
        from distributed.utils import sync

        worker = get_worker()
        found = sync(worker.loop, worker.scheduler.get_metadata, keys=list(keys), default=None,
                     callback_timeout=_LOOKUP_TIMEOUT)
    except Exception:  # not in a worker, or no answer from the scheduler
        return False
    return found is not None
