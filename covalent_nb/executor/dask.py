"""The Dask executor's spec: which Dask cluster runs a task.

The dispatcher service drives Dask itself rather than through :meth:`run`:
it submits :func:`covalent_nb.executor.runner.run_task` to the cluster with
the parents' Futures as arguments, so chained tasks flow worker to worker
without a round trip through the dispatcher. This class only names the
cluster: ``scheduler_address=None`` means the dispatcher's default cluster.
"""

from __future__ import annotations

from typing import Any, ClassVar

from covalent_nb.executor.base import BaseExecutor

__all__ = ["DaskExecutor"]


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
