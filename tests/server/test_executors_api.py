"""``GET api/v1/executors`` and ``covalent-nb executors`` on a real server; server-side executor settings.

The server's config has an ``[executors.local]`` section (filling electrons
that name "local") and one for an executor that is not installed, holding
secrets that must never be shown.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

import covalent_nb as ct
from tests.conftest import RunningServer, start_server
from tests.server.test_api import call_with_headers

SERVER_CONFIG = """\
[executors.local]
workdir = "{workdir}"

[executors.vault]
region = "eu-west-1"
api_key = "AKIA-very-secret"
password = "hunter2"
empty_token = ""
nested = {{ client_secret = "s3cr3t", timeout = 30 }}
"""


@pytest.fixture(scope="module")
def configured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, Path]]:
    """A server with executor sections in its config, and the workdir its [executors.local] names."""
    root = tmp_path_factory.mktemp("executors_api")
    workdir = root / "server_workdir"
    (root / "config").mkdir()
    (root / "config" / "covalent.conf").write_text(SERVER_CONFIG.format(workdir=workdir))
    server = start_server(root, workers=1)
    try:
        yield server, workdir
    finally:
        server.cli("stop")


@pytest.fixture
def client(configured: tuple[RunningServer, Path], tmp_path: Path,
           monkeypatch: pytest.MonkeyPatch) -> RunningServer:
    """This process as a client of the configured server (with an empty client config)."""
    server = configured[0]
    monkeypatch.setenv("COVALENT_NB_CONFIG_DIR", str(tmp_path / "client_config"))
    monkeypatch.setenv("COVALENT_NB_TOKEN", server.token)
    return server


def by_name(listing: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in listing["executors"]}


def test_listing_shows_default_cluster_installed_and_configured_executors(configured):
    server, workdir = configured
    status, listing, _ = call_with_headers(server, "GET", "executors")
    assert status == 200
    assert listing["default"] == "dask" and listing["executors"][0]["name"] == "dask"
    entries = by_name(listing)
    assert entries["dask"]["settings"] == {"scheduler_address": "local cluster", "workers": 1}
    assert entries["local"]["installed"] and entries["local"]["configured"]
    assert entries["local"]["settings"] == {"workdir": str(workdir), "create_unique_workdir": False}
    assert entries["local"]["executor_class"] == "covalent_nb.executor.local.LocalExecutor"
    vault = entries["vault"]
    assert vault["installed"] is False and "unknown executor 'vault'" in vault["error"]
    assert vault["settings"] == {"region": "eu-west-1", "api_key": "***", "password": "***", "empty_token": "",
                                 "nested": {"client_secret": "***", "timeout": 30}}


def test_secrets_never_leave_the_server(configured):
    server, _ = configured
    _, listing, _ = call_with_headers(server, "GET", "executors")
    text = json.dumps(listing)
    for secret in ("AKIA-very-secret", "hunter2", "s3cr3t"):
        assert secret not in text


def test_the_configuration_cannot_be_changed_through_the_api(configured):
    server, workdir = configured
    _, before, _ = call_with_headers(server, "GET", "executors")
    change = json.dumps({"name": "local", "settings": {"workdir": "/elsewhere"}}).encode()
    for method in ("PUT", "POST", "PATCH", "DELETE"):
        status, body, headers = call_with_headers(server, method, "executors", None if method == "DELETE" else change)
        assert status == 405, method
        assert "cannot be changed" in body["error"] and "config file" in body["error"]
        assert headers.get("Allow") == "GET"
    assert call_with_headers(server, "PUT", "executors", change, token=None)[0] == 401
    assert call_with_headers(server, "GET", "executors", token="wrong")[0] == 401
    assert call_with_headers(server, "GET", "executors")[1] == before


def test_server_side_name_is_filled_from_the_servers_config(client):
    @ct.electron(executor="local")
    def where() -> str:
        import os
        return os.getcwd()

    @ct.electron(executor=ct.executor.LocalExecutor())
    def where_client_side() -> str:
        import os
        return os.getcwd()

    @ct.lattice
    def flow() -> tuple:
        return where(), where_client_side()

    result = ct.dispatch_sync(flow, dispatcher_addr=client.addr)()
    assert result.status == "COMPLETED", result.error
    server_side, client_side = result.result
    workdir = client.data_dir.parent / "server_workdir"
    assert Path(server_side) == workdir  # "local" alone: the server's [executors.local] workdir
    assert Path(client_side) != workdir  # a full LocalExecutor(): workdir=None, the server's config is ignored


class _BadSpec:
    """Duck-types an executor whose spec carries a wrong type, as a hand-made client could send."""

    def to_spec(self) -> dict[str, Any]:
        return {"name": "local", "attrs": {"workdir": 5}}


def test_a_misconfigured_executor_is_refused_at_dispatch_time(client):
    @ct.electron(executor=_BadSpec())
    def task() -> int:
        return 1

    @ct.lattice
    def flow() -> int:
        return task()

    with pytest.raises(ct.DispatcherError) as info:
        ct.dispatch(flow, dispatcher_addr=client.addr)()
    assert info.value.status == 400
    assert str(info.value).endswith(
        "answered 400: dispatch refused: task 'task' (node 0): executor 'local': setting 'workdir' must be str "
        "or None, not int (5); fix the electron's executor or the [executors.local] section of the server's config")


def test_a_configured_executor_that_is_not_installed_fails_its_task_saying_so(client):
    @ct.electron(executor="vault")
    def task() -> int:
        return 1

    @ct.lattice
    def flow() -> int:
        return task()

    with pytest.warns(UserWarning, match=r"unknown executor 'vault' on task 'task' \(node 0\); this server offers: "
                                         r"dask, .*local.* \(the server's config has an \[executors.vault\] "
                                         r"section, but no executor 'vault' is installed where the server runs"):
        dispatch_id = ct.dispatch(flow, dispatcher_addr=client.addr)()
    result = ct.get_result(dispatch_id, wait=True, dispatcher_addr=client.addr)
    assert result.status == ct.status.FAILED
    assert "[executors.vault] section" in result.get_node_result(0)["error"]


def test_cli_lists_the_executors(configured):
    server, workdir = configured
    done = server.cli("executors")
    assert done.returncode == 0, done.stderr
    assert f"at http://127.0.0.1:{server.port}" in done.stdout
    assert "dask (default)" in done.stdout and '    scheduler_address = "local cluster"' in done.stdout
    assert f'    workdir = "{workdir}"' in done.stdout
    assert "vault (configured but not installed on the server)" in done.stdout
    assert '    api_key = "***"' in done.stdout and "hunter2" not in done.stdout
    as_json = server.cli("executors", "--json")
    assert as_json.returncode == 0 and by_name(json.loads(as_json.stdout))["local"]["settings"]["workdir"] == str(workdir)


def test_cli_without_a_server_says_so(tmp_path):
    env = dict(os.environ, COVALENT_NB_CONFIG_DIR=str(tmp_path / "config"), COVALENT_NB_DATA_DIR=str(tmp_path / "data"))
    done = subprocess.run([sys.executable, "-m", "covalent_nb", "executors"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "no covalent-nb dispatcher is running" in done.stderr and "covalent-nb start" in done.stderr
