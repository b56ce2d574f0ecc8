"""Dask clients: the server's own local cluster, or existing ones.

The local cluster starts when the server starts (``start_in_background``) or
when a task first needs it, and closes after it has idled a while
(``close_when_idle``) to give its memory back; the next task starts it again.

The local cluster speaks only mutual TLS on loopback, and runs no dashboard
and no HTTP routes (see :mod:`.dask_security`); existing clusters at
``tls://`` addresses are reached with the configured credentials.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from .dask_security import CREDENTIALS_DIR, ExternalTLS, local_cluster_security
from .host_log_levels import import_distributed
from .worker_spawn import skip_host_main

if TYPE_CHECKING:
    from .settings import ServerSettings

__all__ = ["DaskClusters", "STOP_GRACE_SECONDS"]

log = logging.getLogger(__name__)

STOP_GRACE_SECONDS = 2.0
"""How long a cancelled task has to end after its interruption before its worker is restarted."""


class DaskClusters:
    """One asynchronous Dask client per scheduler address.

    ``None`` stands for the server's default: the configured scheduler address
    or, failing that, a ``LocalCluster`` of worker processes, started by
    :meth:`start_in_background` or the first time a task needs it.
    """

    def __init__(self, workers: int, default_address: str = "", allow_local: bool = True,
                 credentials_dir: Path | None = None, external_tls: ExternalTLS | None = None) -> None:
        self.workers = workers
        self.default_address = default_address or None
        self.allow_local = allow_local
        self.credentials_dir = credentials_dir  # the local cluster's TLS files (None: kept in memory)
        self.external_tls = external_tls  # for existing clusters at tls:// addresses
        self._clients: dict[str | None, Any] = {}
        self._starting: dict[str | None, asyncio.Task] = {}
        self._cluster: Any = None
        self._background: set[asyncio.Task] = set()  # the background start and the idle watcher
        self._closing: asyncio.Task | None = None  # the local cluster closing after idling
        self._last_used = time.monotonic()
        self._holds = 0  # work on the clusters outside the dispatcher's runs (stopping tasks)

    @classmethod
    def from_settings(cls, settings: "ServerSettings") -> "DaskClusters":
        """The clusters a server with these settings uses (local credentials in its data directory)."""
        return cls(settings.worker_count, settings.scheduler_address, settings.cluster,
                   credentials_dir=settings.data_dir / CREDENTIALS_DIR, external_tls=settings.dask_tls)

    @property
    def runs_local(self) -> bool:
        """True when the default cluster is a local one this server starts itself."""
        return self.default_address is None and self.allow_local

    def status(self) -> dict[str, Any]:
        """The default cluster: ``{"kind": "local" | "scheduler" | "none", "state", "workers"}``.

        ``state`` is ``"stopped"`` (not started, or closed after idling),
        ``"starting"``, ``"ready"`` or ``"closing"``; ``workers`` counts the
        connected workers (0 unless ready).
        """
        if self.default_address is None and not self.allow_local:
            return {"kind": "none", "state": "stopped", "workers": 0}
        kind = "local" if self.default_address is None else "scheduler"
        client = self._clients.get(self.default_address)
        if client is not None:
            if self._cluster is not None and kind == "local":  # its scheduler runs in this process
                workers = len(self._cluster.scheduler.workers)
            else:  # an asynchronous client's cached totals
                info = client.scheduler_info() or {}
                workers = int(info.get("n_workers", len(info.get("workers") or {})))
            return {"kind": kind, "state": "ready", "workers": workers}
        if self.default_address in self._starting:
            state = "starting"
        else:
            state = "closing" if self._closing is not None else "stopped"
        return {"kind": kind, "state": state, "workers": 0}

    def uses_local_cluster(self, address: str | None) -> bool:
        """True when tasks for ``address`` run on this machine's local cluster (shared disk)."""
        return (address or self.default_address) is None

    def connected_client(self) -> Any | None:
        """The default cluster's client if it is connected, without counting as a use (for reports)."""
        return self._clients.get(self.default_address)

    def ready_client(self, address: str | None) -> Any | None:
        """The client for ``address`` if it is already connected."""
        self._last_used = time.monotonic()
        return self._clients.get(address or self.default_address)

    async def client(self, address: str | None) -> Any:
        """The client for ``address``, connecting (or starting the cluster) once."""
        self._last_used = time.monotonic()
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
        import_distributed()  # before anything else imports it: the host's access log stays on
        from distributed import Client

        if address is None:
            if not self.allow_local:
                raise RuntimeError("this server runs without a local Dask cluster (--no-cluster) and no "
                                   "[dask] scheduler_address is configured: give the task an executor")
            closing = self._closing
            if closing is not None:  # the one that idled closes first: never two at once
                await asyncio.wait([closing])
            skip_host_main()  # see worker_spawn: workers need nothing of this process's main script
            log.info("starting a local Dask cluster with %d worker processes", self.workers)
            security = local_cluster_security(self.credentials_dir)
            self._cluster = await _start_local_cluster(self.workers, security)
            return await Client(self._cluster, asynchronous=True, security=security)
        log.info("connecting to the Dask scheduler at %s", address)
        return await Client(address, asynchronous=True, timeout=30, security=self._security_for(address))

    def _security_for(self, address: str) -> Any:
        """The credentials for an existing scheduler: the configured ones for ``tls://``, else none."""
        if not address.startswith("tls://"):
            return None
        if self.external_tls is None:
            raise RuntimeError(f"the Dask scheduler at {address} speaks TLS, and this server has no credentials "
                               "for it: set [dask] tls_ca_file, tls_client_cert and tls_client_key in the "
                               "server's config")
        return self.external_tls.security()

    def start_in_background(self) -> None:
        """Start the default cluster (or connect to its scheduler) now, without waiting for it.

        A task that needs the cluster meanwhile waits for this same start. A
        failed start is logged; the next task tries again.
        """
        if self.default_address is None and not self.allow_local:
            return
        if self.default_address in self._clients or self.default_address in self._starting:
            return
        self._keep(self._warm_up())

    async def _warm_up(self) -> None:
        try:
            await self.client(None)
        except Exception as exc:  # the tasks that need the cluster will say why it cannot start
            log.warning("the Dask cluster did not start in the background (%s); the next task tries again", exc)

    def close_when_idle(self, seconds: float, busy: Callable[[], bool]) -> None:
        """Close the local cluster once it has run no task for ``seconds`` (0: keep it).

        ``busy()`` says whether the server has work that may still need the
        cluster (e.g. dispatches running); the cluster is never closed then.
        After closing, the next task that needs it starts it again.
        """
        if seconds > 0 and self.runs_local:
            self._keep(self._watch_idle(seconds, busy))

    async def _watch_idle(self, seconds: float, busy: Callable[[], bool]) -> None:
        period = min(max(seconds / 4, 0.1), 30.0)
        while True:
            await asyncio.sleep(period)
            client = self._clients.get(None)
            if client is None or busy() or self._holds or client.futures:
                self._last_used = time.monotonic()
            elif time.monotonic() - self._last_used >= seconds:
                # Taken away at once, in this turn of the loop: from here on a task that
                # needs the cluster starts a new one (once this one has closed).
                cluster, self._cluster = self._cluster, None
                del self._clients[None]
                log.info("closing the local Dask cluster to give its memory back: no task for %g minutes "
                         "(server.cluster_idle_minutes); the next task starts it again", seconds / 60)
                closing = self._closing = asyncio.ensure_future(self._close_idle(client, cluster))
                closing.add_done_callback(self._closed)
                await asyncio.wait([closing])

    def _closed(self, closing: asyncio.Task) -> None:
        if self._closing is closing:
            self._closing = None
        self._last_used = time.monotonic()

    @staticmethod
    async def _close_idle(client: Any, cluster: Any) -> None:
        from .dask_close_noise import quiet_closed_comms

        for part in (client, cluster):
            if part is None:
                continue
            try:
                with quiet_closed_comms():  # as in close(): workers' streams end under the scheduler
                    await part.close()
            except Exception:  # best effort: its processes end with the server's at the latest
                log.exception("closing the idle local Dask cluster failed")

    def _keep(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _stop_background(self) -> None:
        """Stop the idle watcher; let a start or an idle close under way finish, so close() sees its cluster."""
        for task in list(self._background):
            task.cancel()
        pending = [task for task in (*self._starting.values(), self._closing) if task is not None]
        if pending:
            await asyncio.wait(pending)
        for key, task in list(self._starting.items()):
            if not task.cancelled() and task.exception() is None:
                self._clients.setdefault(key, task.result())
        self._starting.clear()

    @contextlib.contextmanager
    def _hold(self) -> Iterator[None]:
        """While inside, the local cluster is in use (it is not closed for idling)."""
        self._holds += 1
        try:
            yield
        finally:
            self._holds -= 1
            self._last_used = time.monotonic()

    async def cancel(self, futures: list[Any]) -> None:
        """Tell the clusters to forget these futures (and run none of the tasks that wait on them)."""
        for client, positions in _by_client(futures):
            await client.cancel([futures[i] for i in positions])

    async def stop_running(self, futures: list[Any], tasks: list[tuple[str, int]]) -> None:
        """Cancel the futures of running tasks, then stop those tasks that workers still run.

        ``tasks[i]`` is the (dispatch id, node id) of ``futures[i]``. How they
        are stopped: see :mod:`covalent_nb.executor.task_stop`.
        """
        with self._hold():
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
        await self._stop_background()
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


async def _start_local_cluster(workers: int, security: Any) -> Any:
    """A local cluster of ``workers`` processes, reached only with ``security``'s credentials.

    Everything on loopback and over mutual TLS. No dashboard and no HTTP
    routes: the scheduler's HTTP listener (Dask always starts one) is closed
    once it is up, and the workers' answer 404 to every path. Workers import
    the task runner as they start, not when their first task comes.
    """
    import dask
    from distributed import LocalCluster

    # Nannies hand the Dask config of this moment to their worker processes.
    with dask.config.set({"distributed.scheduler.http.routes": [], "distributed.worker.http.routes": []}):
        cluster = await LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                     asynchronous=True, host="127.0.0.1", protocol="tls://", security=security,
                                     dashboard_address="127.0.0.1:0", scheduler_kwargs={"dashboard": False},
                                     silence_logs=logging.WARNING, preload=["covalent_nb.executor.runner"])
    http = getattr(cluster.scheduler, "http_server", None)
    if http is not None:
        http.stop()
    return cluster


def _by_client(futures: list[Any]) -> list[tuple[Any, list[int]]]:
    """Each Dask client among the futures', with the positions of its futures."""
    groups: dict[int, tuple[Any, list[int]]] = {}
    for position, future in enumerate(futures):
        groups.setdefault(id(future.client), (future.client, []))[1].append(position)
    return list(groups.values())


def _with_tasks(answers: dict[str, Any]) -> dict[str, list]:
    """The workers whose answer to ``Client.run`` names some tasks, with those tasks (errors dropped)."""
    return {worker: tasks for worker, tasks in answers.items() if isinstance(tasks, list) and tasks}

