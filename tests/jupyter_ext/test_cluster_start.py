"""The Dask cluster of a real Jupyter server's dispatcher: started with the server, closed when idle.

``GET covalent/api/v1/health`` says what the default cluster is doing
(``cluster``: kind, state, workers). One server takes its settings from the
covalent-nb config file (eager by default, idling out after 0.03 minutes),
the other from the extension's traitlets, which win over the file.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Iterator

import pytest

import covalent_nb as ct

from .jupyter_process import JupyterServer, running_jupyter

DISPATCH_AND_REPORT = """
import covalent_nb as ct

@ct.electron
def host_modules(x):
    import sys
    return x, "jupyter_server.serverapp" in sys.modules

@ct.lattice
def report(x):
    return host_modules(x)

result = ct.dispatch_sync(report)(7)
print(result.status, result.result)
"""
"""A kernel cell: a task that says whether its worker imported the Jupyter server."""


@ct.electron
def square(x: int) -> int:
    return x * x


@ct.lattice
def squared(x: int) -> int:
    return square(x)


def cluster(jupyter: JupyterServer) -> dict[str, Any]:
    """The ``cluster`` field of the extension's health answer."""
    answer = jupyter.get("covalent/api/v1/health")
    assert answer.status == 200, answer.body
    return answer.json()["cluster"]


def cluster_becomes(jupyter: JupyterServer, state: str, timeout: float = 60.0) -> dict[str, Any]:
    """Poll health (bounded) until the cluster is in ``state``; that cluster status."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = cluster(jupyter)
        if status["state"] == state:
            return status
        time.sleep(0.1)
    raise AssertionError(f"the cluster did not become {state!r} within {timeout} s: {cluster(jupyter)}\n"
                         f"{jupyter.log()}")


@pytest.fixture(scope="module")
def from_config_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    """A Jupyter server whose config file sets a 0.03 minute (1.8 s) idle time, start left at its default."""
    root = tmp_path_factory.mktemp("jupyter_cluster_file")
    (root / "covalent_config").mkdir()
    (root / "covalent_config" / "covalent.conf").write_text("[server]\ncluster_idle_minutes = 0.03\n")
    with running_jupyter(root, ("--CovalentNB.workers=1",)) as server:
        yield server


def test_the_cluster_starts_with_the_server_before_any_dispatch(from_config_file: JupyterServer) -> None:
    assert cluster_becomes(from_config_file, "ready") == {"kind": "local", "state": "ready", "workers": 1}
    assert from_config_file.get("covalent/api/v1/dispatches").json()["dispatches"] == []


def test_an_idle_cluster_closes_and_a_later_dispatch_in_a_kernel_completes(
        from_config_file: JupyterServer) -> None:
    cluster_becomes(from_config_file, "stopped")
    kernel = from_config_file.start_kernel()
    try:
        outcome = kernel.execute(DISPATCH_AND_REPORT, timeout=120)
    finally:
        kernel.shutdown()
    assert outcome.error is None, f"{outcome}\n{from_config_file.log()}"
    # COMPLETED, and the worker never imported the Jupyter server (the host's main script)
    assert outcome.stdout.strip() == "COMPLETED (7, False)", outcome


def test_traitlets_win_over_the_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "covalent_config").mkdir()
    (tmp_path / "covalent_config" / "covalent.conf").write_text(
        '[server]\ncluster_start = "eager"\ncluster_idle_minutes = 30\n')
    with running_jupyter(tmp_path, ("--CovalentNB.workers=1", "--CovalentNB.cluster_start=lazy",
                                    "--CovalentNB.cluster_idle_minutes=0.02")) as jupyter:
        time.sleep(1.0)  # an eager start would be under way by now
        assert cluster(jupyter) == {"kind": "local", "state": "stopped", "workers": 0}
        monkeypatch.setenv("COVALENT_NB_TOKEN", jupyter.token)
        result = ct.dispatch_sync(squared, dispatcher_addr=f"{jupyter.url}covalent/")(9)
        assert (result.status, result.result) == ("COMPLETED", 81)
        assert cluster(jupyter)["state"] == "ready"
        cluster_becomes(jupyter, "stopped")  # after 0.02 minutes without a task
