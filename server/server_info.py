"""What ``GET <prefix>api/v1/health?detail=1`` adds: the server's version, uptime, work and Dask workers.

``tasks`` counts the tasks of the dispatches that run now (all owners': a
count says nothing of anyone's work): ``running`` were handed to an
executor, ``queued`` wait for their inputs or a worker. ``workers`` lists
the default Dask cluster's workers with their load, read from its scheduler
(an empty list while no cluster is connected: asking never starts one).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from covalent_nb import __version__
from covalent_nb._status import TERMINAL, Status

__all__ = ["server_details", "task_counts", "worker_loads", "IDENTITY_TIMEOUT"]

log = logging.getLogger(__name__)

IDENTITY_TIMEOUT = 2.0
"""Seconds the scheduler has to say who its workers are; without an answer, none are listed."""


async def server_details(service: Any) -> dict[str, Any]:
    """``{"status", "version", "started", "uptime", "cluster", "dispatches", "tasks", "workers"}``."""
    dispatcher = service.dispatcher
    started = getattr(service, "started", None)
    return {
        "status": "ok", "version": __version__,
        "started": started, "uptime": None if started is None else max(0.0, time.time() - started),
        "cluster": dispatcher.clusters.status(),
        "dispatches": {"running": sum(1 for run in dispatcher.runs.values() if run.parent is None)},
        "tasks": task_counts(dispatcher.runs.values()),
        "workers": await worker_loads(dispatcher.clusters.connected_client()),
    }


def task_counts(runs: Any) -> dict[str, int]:
    """``{"running", "queued"}``: tasks of running dispatches handed to an executor, and waiting."""
    running = queued = 0
    for run in runs:
        if run.status in TERMINAL:
            continue
        for node in run.nodes.values():
            if node.kind == "parameter" or node.finished or node.dead:
                continue
            if node.status == Status.RUNNING:
                running += 1
            else:
                queued += 1
    return {"running": running, "queued": queued}


async def worker_loads(client: Any) -> list[dict[str, Any]]:
    """Each worker of ``client``'s cluster: address, name, threads, memory and its load (tasks executing
    and ready there, CPU percent, memory in use); [] without a client or an answer in time."""
    if client is None:
        return []
    try:
        identity = await asyncio.wait_for(client.scheduler.identity(n_workers=-1), IDENTITY_TIMEOUT)
    except Exception as exc:  # a cluster closing, a scheduler gone: the report says no workers
        log.debug("no worker report from the scheduler: %s", exc)
        return []
    workers = []
    for address, info in sorted((identity.get("workers") or {}).items()):
        metrics = info.get("metrics") or {}
        counts = metrics.get("task_counts") or {}  # tasks on the worker by state, as of its last heartbeat
        workers.append({
            "address": address, "name": str(info.get("name", address)), "nthreads": info.get("nthreads"),
            "memory_limit": info.get("memory_limit"), "memory": metrics.get("memory"), "cpu": metrics.get("cpu"),
            "executing": counts.get("executing", 0) + counts.get("long-running", 0),
            "ready": counts.get("ready", 0) + counts.get("constrained", 0), "in_memory": counts.get("memory", 0),
        })
    return workers
