"""A standalone server's Dask cluster: started with the server, reported by /health, settings checked.

Real servers through the CLI; ``GET health`` says what the default cluster
is doing (``cluster``: kind, state, workers).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

import covalent_nb as ct
from tests.conftest import RunningServer, free_port, start_server


@ct.electron
def triple(x: int) -> int:
    return 3 * x


@ct.lattice
def tripled(x: int) -> int:
    return triple(x)


def get(server: RunningServer, path: str) -> Any:
    """``GET /api/v1/{path}`` with the server's token, decoded."""
    request = urllib.request.Request(f"http://{server.addr}/api/v1/{path}",
                                     headers={"Authorization": f"token {server.token}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def cluster_becomes(server: RunningServer, state: str, timeout: float = 60.0) -> dict[str, Any]:
    """Poll health (bounded) until its cluster is in ``state``; that cluster status."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        cluster = get(server, "health")["cluster"]
        if cluster["state"] == state:
            return cluster
        time.sleep(0.1)
    raise AssertionError(f"the cluster did not become {state!r} within {timeout} s: {get(server, 'health')}")


def write_config(root: Path, text: str) -> None:
    (root / "config").mkdir(parents=True, exist_ok=True)
    (root / "config" / "covalent.conf").write_text(text)


def test_the_local_cluster_starts_with_the_server_before_any_dispatch(tmp_path: Path) -> None:
    server = start_server(tmp_path, workers=1)
    try:
        assert cluster_becomes(server, "ready") == {"kind": "local", "state": "ready", "workers": 1}
        assert get(server, "dispatches")["dispatches"] == []
    finally:
        server.cli("stop")


def test_a_lazy_server_starts_its_cluster_for_the_first_task(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(tmp_path, '[server]\ncluster_start = "lazy"\n')
    server = start_server(tmp_path, workers=1)
    monkeypatch.setenv("COVALENT_NB_TOKEN", server.token)
    try:
        time.sleep(1.0)  # an eager start would be under way by now
        assert get(server, "health")["cluster"] == {"kind": "local", "state": "stopped", "workers": 0}
        result = ct.dispatch_sync(tripled, dispatcher_addr=server.addr)(14)
        assert (result.status, result.result) == ("COMPLETED", 42)
        assert get(server, "health")["cluster"] == {"kind": "local", "state": "ready", "workers": 1}
    finally:
        server.cli("stop")


def test_an_idle_cluster_closes_and_a_later_dispatch_starts_it_again(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(tmp_path, "[server]\ncluster_idle_minutes = 0.02\n")  # 1.2 s
    server = start_server(tmp_path, workers=1)
    monkeypatch.setenv("COVALENT_NB_TOKEN", server.token)
    try:
        cluster_becomes(server, "ready")
        cluster_becomes(server, "stopped")
        result = ct.dispatch_sync(tripled, dispatcher_addr=server.addr)(5)
        assert (result.status, result.result) == ("COMPLETED", 15)
        assert "no task for 0.02 minutes (server.cluster_idle_minutes)" in (server.data_dir / "server.log").read_text()
    finally:
        server.cli("stop")


def test_no_cluster_means_none_to_start(tmp_path: Path) -> None:
    server = start_server(tmp_path, workers=1, extra=("--no-cluster",))
    try:
        assert get(server, "health")["cluster"] == {"kind": "none", "state": "stopped", "workers": 0}
    finally:
        server.cli("stop")


def test_a_bad_cluster_setting_stops_the_start_with_the_reason(tmp_path: Path) -> None:
    write_config(tmp_path, "[server]\ncluster_idle_minutes = -5\n")
    env = {**os.environ, "COVALENT_NB_CONFIG_DIR": str(tmp_path / "config"),
           "COVALENT_NB_DATA_DIR": str(tmp_path / "data")}
    done = subprocess.run([sys.executable, "-m", "covalent_nb", "start", "--address", "127.0.0.1",
                           "--port", str(free_port())], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "server.cluster_idle_minutes must be a number of minutes" in done.stdout + done.stderr
