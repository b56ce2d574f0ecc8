"""Tasks on an existing Dask cluster (real scheduler and worker processes on loopback)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Iterator

import pytest

import covalent_nb as ct
from tests.conftest import free_port


@pytest.fixture(scope="module")
def dask_cluster() -> Iterator[str]:
    """`dask scheduler` and one `dask worker` named 'external-worker', as separate processes."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    scheduler = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                                  "--port", str(port), "--dashboard-address", ":0"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", address, "--name",
                               "external-worker", "--nthreads", "1", "--no-dashboard"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        from distributed import Client

        deadline = time.monotonic() + 60
        while True:
            try:
                with Client(address, timeout=5) as client:
                    if client.scheduler_info()["workers"]:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the Dask cluster did not come up"
            time.sleep(0.2)
        yield address
    finally:
        for proc in (worker, scheduler):
            proc.terminate()
            proc.wait(timeout=30)


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
