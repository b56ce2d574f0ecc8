"""Tasks on an existing Dask cluster (real scheduler and worker processes on loopback)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Iterator

import pytest

import covalent_nb as ct
from tests.conftest import process_is_gone, running_dask_cluster, wait_for


@pytest.fixture(scope="module")
def dask_cluster() -> Iterator[str]:
    """An existing cluster of one single-threaded worker named 'external-worker'."""
    with running_dask_cluster("external-worker", nthreads=1) as address:
        yield address


def test_dask_executor_with_scheduler_address(server, dask_cluster):
    @ct.electron(executor=ct.executor.DaskExecutor(scheduler_address=dask_cluster))
    def where(x):
        from distributed import get_worker
        return get_worker().name, os.getpid(), x * 2

    @ct.electron
    def default_where():
        from distributed import get_worker
        return get_worker().name

    @ct.lattice
    def flow(x):
        return where(x), default_where()

    result = ct.dispatch_sync(flow)(21)
    assert result.status == "COMPLETED", result.error
    (name, pid, value), default_name = result.result
    assert name == "external-worker" and value == 42
    assert pid != os.getpid()
    assert default_name != "external-worker"  # the server's own cluster ran the other task


BLOCKED_SECONDS = 6.0


def test_cancel_leaves_a_worker_that_runs_other_work(server, tmp_path):
    # One worker with two threads runs a task of each of two dispatches. Cancelling the one
    # blocked in C must not restart the worker, since that would kill the other dispatch's task.
    # The cancelled task ends when its C call returns (the interruption waits for it).
    with running_dask_cluster("shared-worker", nthreads=2) as address:
        shared = ct.executor.DaskExecutor(scheduler_address=address)

        @ct.electron(executor=shared)
        def blocked(folder):
            Path(folder, "blocked-started").write_text(str(os.getpid()))
            time.sleep(BLOCKED_SECONDS)
            Path(folder, "blocked-finished").write_text("yes")
            return "blocked"

        @ct.electron(executor=shared)
        def other(folder):
            Path(folder, "other-started").write_text(str(os.getpid()))
            wait_for(Path(folder, "release").exists, "the release", timeout=60)
            return "other"

        @ct.lattice
        def one_blocked(folder):
            return blocked(folder)

        @ct.lattice
        def one_other(folder):
            return other(folder)

        other_id = ct.dispatch(one_other)(str(tmp_path))
        blocked_id = ct.dispatch(one_blocked)(str(tmp_path))
        started = tmp_path / "blocked-started"
        wait_for(lambda: (tmp_path / "other-started").exists() and started.exists(), "both tasks' start")
        worker_pid = int(started.read_text())
        assert int((tmp_path / "other-started").read_text()) == worker_pid  # one worker runs both
        ct.cancel(blocked_id)
        assert ct.get_result(blocked_id, wait=True).status == "CANCELLED"
        time.sleep(max(0.0, started.stat().st_mtime + BLOCKED_SECONDS + 2.0 - time.time()))
        assert not (tmp_path / "blocked-finished").exists()  # it ended as its sleep returned
        assert not process_is_gone(worker_pid)  # the worker was not restarted
        (tmp_path / "release").touch()
        result = ct.get_result(other_id, wait=True)
        assert (result.status, result.result) == ("COMPLETED", "other")
        assert int((tmp_path / "other-started").read_text()) == worker_pid  # it ran once, there

