"""Stopping a running task from another thread, as a Dask worker does for a cancelled one, and when a
worker may be restarted instead (an in-process Dask cluster, no covalent-nb server)."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path
from typing import Any, Callable

from covalent_nb._frames import unpack
from covalent_nb.executor.runner import run_task
from covalent_nb.executor.task_stop import (TaskCancelled, interrupt_tasks, running_tasks, stoppable,
                                           worker_can_restart)

from tests.conftest import wait_for

from .taskframes import task_frame

TASK = ("dispatch-1", 0)  # what taskframes.task_frame names every task


def in_thread(body: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    """Start ``body`` in a thread; the dict gets its ``result`` or ``error``."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = body()
        except BaseException as exc:  # what the thread ended with is the point of the tests
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def test_interrupting_python_code_ends_it_and_unmarks_it() -> None:
    counted = []

    def count_forever() -> None:
        with stoppable(*TASK):
            while True:
                counted.append(1)

    thread, outcome = in_thread(count_forever)
    wait_for(lambda: len(counted) > 1000, "the count")
    assert running_tasks([TASK, ("dispatch-1", 5)]) == [TASK]
    assert interrupt_tasks([TASK, ("other", 1)]) == [TASK]
    thread.join(10)
    assert not thread.is_alive()
    assert isinstance(outcome.get("error"), TaskCancelled)
    assert running_tasks([TASK]) == []
    assert interrupt_tasks([TASK]) == []  # nothing left to interrupt


def test_a_call_blocked_in_c_ends_when_it_returns() -> None:
    def nap() -> str:
        with stoppable(*TASK):
            time.sleep(1.0)
            return "slept"

    thread, outcome = in_thread(nap)
    wait_for(lambda: running_tasks([TASK]) == [TASK], "the nap")
    assert interrupt_tasks([TASK]) == [TASK]
    assert running_tasks([TASK]) == [TASK]  # still in time.sleep: this is why workers get restarted
    thread.join(10)
    assert isinstance(outcome.get("error"), TaskCancelled) and "result" not in outcome
    assert running_tasks([TASK]) == []


def sleep_in_child(path: str) -> str:
    Path(path).write_text(str(os.getpid()))
    time.sleep(60)
    return "woke"


def test_interrupting_a_time_limited_task_kills_its_process(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    thread, outcome = in_thread(lambda: run_task(task_frame(sleep_in_child, str(pid_file), time_limit=120)))
    wait_for(pid_file.exists, "the child process")
    child = int(pid_file.read_text())
    assert interrupt_tasks([TASK]) == [TASK]
    thread.join(30)
    assert not thread.is_alive()
    assert isinstance(outcome.get("error"), TaskCancelled)
    try:
        os.kill(child, 0)
        alive = True
    except ProcessLookupError:
        alive = False
    assert not alive


def test_a_task_run_to_the_end_is_unmarked() -> None:
    meta, _ = unpack(run_task(task_frame(len, "four")))
    assert meta["status"] == "COMPLETED"
    assert running_tasks([TASK]) == []


def test_a_worker_may_restart_only_when_it_loses_nothing() -> None:
    from distributed import Client, LocalCluster

    async def check() -> None:
        async with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, asynchronous=True,
                                host="127.0.0.1", dashboard_address=None) as cluster:
            async with Client(cluster, asynchronous=True) as client:
                scheduler = cluster.scheduler
                (address,) = scheduler.workers
                assert worker_can_restart(address, scheduler)  # idle, with a nanny
                running = client.submit(time.sleep, 1.0, pure=False)
                await asyncio.sleep(0.2)
                assert not worker_can_restart(address, scheduler)  # a task is assigned to it
                await running
                held = client.submit(len, "four")
                assert await held == 4
                assert not worker_can_restart(address, scheduler)  # the only copy of a wanted result
                assert not worker_can_restart("tcp://127.0.0.1:1", scheduler)  # no such worker
        async with LocalCluster(n_workers=1, processes=False, asynchronous=True, dashboard_address=None) as cluster:
            (address,) = cluster.scheduler.workers
            assert not worker_can_restart(address, cluster.scheduler)  # no nanny: Dask would let it go

    asyncio.run(check())
