"""Dask clients: the server's own local cluster, started on first need, or existing ones."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

__all__ = ["DaskClusters", "STOP_GRACE_SECONDS"]

log = logging.getLogger(__name__)

STOP_GRACE_SECONDS = 2.0
"""How long a cancelled task has to end after its interruption before its worker is restarted."""


class DaskClusters:
    """One asynchronous Dask client per scheduler address.

    ``None`` stands for the server's default: the configured scheduler address
    or, failing that, a ``LocalCluster`` of worker processes started the first
    time a task needs it.
    """

    def __init__(self, workers: int, default_address: str = "", allow_local: bool = True) -> None:
        self.workers = workers
        self.default_address = default_address or None
        self.allow_local = allow_local
        self._clients: dict[str | None, Any] = {}
        self._starting: dict[str | None, asyncio.Task] = {}
        self._cluster: Any = None

    def uses_local_cluster(self, address: str | None) -> bool:
        """True when tasks for ``address`` run on this machine's local cluster (shared disk)."""
        return (address or self.default_address) is None

    def ready_client(self, address: str | None) -> Any | None:
        """The client for ``address`` if it is already connected."""
        return self._clients.get(address or self.default_address)

    async def client(self, address: str | None) -> Any:
        """The client for ``address``, connecting (or starting the cluster) once."""
        key = address or self.default_address
        if key in self._clients:
            return self._clients[key]
        if key not in self._starting:
            self._starting[key] = asyncio.ensure_future(self._connect(key))
        try:
            client = await asyncio.shield(self._starting[key])
        finally:
            if self._starting.get(key) is not None and self._starting[key].done():
                self._starting.pop(key, None)
        self._clients[key] = client
        return client

    async def _connect(self, address: str | None) -> Any:
        from distributed import Client, LocalCluster

        if address is None:
            if not self.allow_local:
                raise RuntimeError("this server runs without a local Dask cluster (--no-cluster) and no "
                                   "[dask] scheduler_address is configured: give the task an executor")
            log.info("starting a local Dask cluster with %d worker processes", self.workers)
            # Everything on loopback: the scheduler, the workers and the scheduler's HTTP
            # routes (which otherwise take port 8787 on every interface).
            self._cluster = await LocalCluster(n_workers=self.workers, threads_per_worker=1,
                                               processes=True, asynchronous=True, host="127.0.0.1",
                                               dashboard_address="127.0.0.1:0",
                                               silence_logs=logging.WARNING)
            return await Client(self._cluster, asynchronous=True)
        log.info("connecting to the Dask scheduler at %s", address)
        return await Client(address, asynchronous=True, timeout=30)

    async def cancel(self, futures: list[Any]) -> None:
        """Tell the clusters to forget these futures (and run none of the tasks that wait on them)."""
        for client, positions in _by_client(futures):
            await client.cancel([futures[i] for i in positions])

    async def stop_running(self, futures: list[Any], tasks: list[tuple[str, int]]) -> None:
        """Cancel the futures of running tasks, then stop those tasks that workers still run.

        ``tasks[i]`` is the (dispatch id, node id) of ``futures[i]``. How they
        are stopped: see :mod:`covalent_nb.executor.task_stop`.
        """
        await self.cancel(futures)  # first: then no worker starts them later
        for client, positions in _by_client(futures):
            await self._stop_on_workers(client, [tasks[i] for i in positions])

    async def _stop_on_workers(self, client: Any, tasks: list[tuple[str, int]]) -> None:
        from covalent_nb.executor.task_stop import interrupt_tasks, running_tasks, worker_can_restart

        still = _with_tasks(await client.run(interrupt_tasks, tasks, on_error="ignore"))
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        while still and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            still = _with_tasks(await client.run(running_tasks, tasks, workers=list(still), on_error="ignore"))
        for worker, hits in still.items():
            try:
                can_restart = await client.run_on_scheduler(worker_can_restart, worker)
            except Exception:  # e.g. a scheduler without covalent-nb installed: it cannot tell
                log.exception("cannot ask the scheduler whether worker %s may restart", worker)
                can_restart = False
            if can_restart:
                log.info("restarting Dask worker %s to stop cancelled task(s) %s", worker, hits)
                await client.restart_workers([worker], raise_for_error=False)
            else:
                log.warning("cancelled task(s) %s on Dask worker %s, which has other work, end when their "
                            "blocking call returns", hits, worker)

    async def close(self) -> None:
        """Close every client and the local cluster."""
        for client in self._clients.values():
            try:
                await client.close()
            except Exception:  # closing is best effort
                log.exception("closing a Dask client failed")
        self._clients.clear()
        if self._cluster is not None:
            from .dask_close_noise import quiet_closed_comms

            with quiet_closed_comms():  # workers' streams end under the closing scheduler: expected
                await self._cluster.close()
            self._cluster = None


def _by_client(futures: list[Any]) -> list[tuple[Any, list[int]]]:
    """Each Dask client among the futures', with the positions of its futures."""
    groups: dict[int, tuple[Any, list[int]]] = {}
    for position, future in enumerate(futures):
        groups.setdefault(id(future.client), (future.client, []))[1].append(position)
    return list(groups.values())


def _with_tasks(answers: dict[str, Any]) -> dict[str, list]:
    """The workers whose answer to ``Client.run`` names some tasks, with those tasks (errors dropped)."""
    return {worker: tasks for worker, tasks in answers.items() if isinstance(tasks, list) and tasks}
