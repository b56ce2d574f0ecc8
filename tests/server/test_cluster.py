"""DaskClusters on real local clusters: the background start, closing when idle, and the races around them.

Each test runs its own event loop (``asyncio.run``) with a one-worker local
cluster; waits are bounded polls of :meth:`DaskClusters.status`.
"""

from __future__ import annotations

import asyncio
import operator
import sys
import time
from typing import Any, Callable

from covalent_nb.server.cluster import DaskClusters


async def state_becomes(clusters: DaskClusters, state: str, timeout: float = 60.0) -> dict[str, Any]:
    """Poll (every 5 ms, at most ``timeout`` s) until the default cluster is in ``state``; its status."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = clusters.status()
        if status["state"] == state:
            return status
        await asyncio.sleep(0.005)
    raise AssertionError(f"the cluster did not become {state!r} within {timeout} s: {clusters.status()}")


def run(test: Callable[[DaskClusters], Any], **kwargs: Any) -> Any:
    """Run ``test(clusters)`` on a new loop with a one-worker DaskClusters, closed at the end."""
    async def main() -> Any:
        clusters = DaskClusters(1, **kwargs)
        try:
            return await test(clusters)
        finally:
            await clusters.close()
    return asyncio.run(main())


def test_the_background_start_is_the_one_a_task_waits_for() -> None:
    async def test(clusters: DaskClusters) -> None:
        assert clusters.status() == {"kind": "local", "state": "stopped", "workers": 0}
        clusters.start_in_background()
        await asyncio.sleep(0)
        assert clusters.status()["state"] == "starting"
        client = await clusters.client(None)  # joins the start under way
        assert clusters.ready_client(None) is client
        assert clusters.status() == {"kind": "local", "state": "ready", "workers": 1}
        assert await client.submit(operator.add, 2, 3, pure=False) == 5
        clusters.start_in_background()  # already up: nothing new starts
        assert clusters.ready_client(None) is client
    run(test)


def test_workers_have_the_task_runner_imported_before_any_task() -> None:
    async def test(clusters: DaskClusters) -> None:
        client = await clusters.client(None)
        loaded = await client.run(lambda: "covalent_nb.executor.runner" in sys.modules)
        assert list(loaded.values()) == [True]
    run(test)


def test_no_background_start_without_a_cluster_to_start() -> None:
    async def test(clusters: DaskClusters) -> None:
        clusters.start_in_background()
        clusters.close_when_idle(0.1, busy=lambda: False)
        await asyncio.sleep(0.3)
        assert clusters.status() == {"kind": "none", "state": "stopped", "workers": 0}
        assert not clusters._background  # neither a start nor a watcher
    run(test, allow_local=False)


def test_an_idle_cluster_closes_and_the_next_task_starts_a_new_one() -> None:
    async def test(clusters: DaskClusters) -> None:
        clusters.close_when_idle(0.5, busy=lambda: False)
        first = await clusters.client(None)
        first_cluster = clusters._cluster
        await state_becomes(clusters, "stopped")
        assert first.status == "closed" and first_cluster.status.name == "closed"
        second = await clusters.client(None)
        assert second is not first and second.status == "running"
        assert await second.submit(operator.mul, 6, 7, pure=False) == 42
        await state_becomes(clusters, "stopped")  # and that one idles out too
    run(test)


def test_a_task_arriving_while_the_idle_cluster_closes_gets_a_new_cluster() -> None:
    async def test(clusters: DaskClusters) -> None:
        clusters.close_when_idle(0.3, busy=lambda: False)
        first = await clusters.client(None)
        await state_becomes(clusters, "closing")
        client = await clusters.client(None)  # waits for the close, then starts a new cluster
        assert client is not first
        assert await client.submit(operator.add, 20, 22, pure=False) == 42
        assert clusters.status()["state"] == "ready"
    run(test)


def test_a_busy_server_or_held_futures_keep_the_cluster() -> None:
    async def test(clusters: DaskClusters) -> None:
        busy = [True]
        clusters.close_when_idle(0.2, busy=lambda: busy[0])
        client = await clusters.client(None)
        await asyncio.sleep(1.0)  # five idle periods while the server says it is busy
        assert clusters.ready_client(None) is client
        busy[0] = False
        future = client.submit(operator.add, 1, 1, pure=False)  # a result the server still holds
        await future
        await asyncio.sleep(1.0)
        assert clusters.ready_client(None) is client
        del future
        await state_becomes(clusters, "stopped")
    run(test)


def test_closing_while_the_background_start_is_under_way_closes_what_it_started() -> None:
    async def test(clusters: DaskClusters) -> None:
        clusters.start_in_background()
        await asyncio.sleep(0)
        assert clusters.status()["state"] == "starting"
        await clusters.close()  # waits for the start, then closes its client and cluster
        assert clusters.status()["state"] == "stopped"
        assert clusters._cluster is None and not clusters._background
    run(test)

