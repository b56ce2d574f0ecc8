"""The server's default cluster can be an existing Dask cluster: ``[dask] scheduler_address`` in its config.

Real `dask scheduler` and `dask worker --name external-worker` processes on
loopback; tasks without an executor must all run on that worker.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

import covalent_nb as ct
from tests.client.test_executors import dask_cluster  # noqa: F401  (the fixture)
from tests.conftest import RunningServer, start_server


@ct.electron
def worker_name(i: int) -> tuple[int, str]:
    from distributed import get_worker

    return i, get_worker().name


@ct.electron
def names_of(pairs: list) -> list:
    from distributed import get_worker

    return [name for _, name in pairs] + [get_worker().name]


@ct.lattice
def spread(n: int) -> list:
    return names_of([worker_name(i) for i in range(n)])


@pytest.fixture
def configured_server(dask_cluster: str, tmp_path: Path,  # noqa: F811  (the imported fixture)
                      monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningServer]:
    """A server whose config names the external cluster as its default; this process is its client."""
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "covalent.conf").write_text(f'[dask]\nscheduler_address = "{dask_cluster}"\n')
    server = start_server(tmp_path, workers=1)
    monkeypatch.setenv("COVALENT_NB_CONFIG_DIR", str(tmp_path / "client_config"))
    monkeypatch.setenv("COVALENT_NB_TOKEN", server.token)
    try:
        yield server
    finally:
        server.cli("stop")


def test_tasks_without_executor_run_on_the_configured_cluster(configured_server, dask_cluster):  # noqa: F811
    result = ct.dispatch_sync(spread, dispatcher_addr=configured_server.addr)(3)
    assert result.status == "COMPLETED", result.error
    assert result.result == ["external-worker"] * 4
    for node in result.get_all_node_results():
        if node["node_name"] in ("worker_name", "names_of"):
            assert node["status"] == "COMPLETED"


def test_the_server_reports_the_configured_cluster(configured_server, dask_cluster):  # noqa: F811
    request = urllib.request.Request(f"http://{configured_server.addr}/api/v1/executors",
                                     headers={"Authorization": f"token {configured_server.token}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        listing = json.loads(response.read())
    dask = next(entry for entry in listing["executors"] if entry["name"] == "dask")
    assert listing["default"] == "dask" and dask["settings"] == {"scheduler_address": dask_cluster}
