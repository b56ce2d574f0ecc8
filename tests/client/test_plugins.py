"""An executor plugin, really installed (pip, entry point), used by a real server in the three ways.

The plugin is tests/plugin_package (``covalent_nb_echo_plugin``): its
``EchoExecutor`` runs tasks in the server's process, appends "ran by echo
plugin" to their stdout and counts setup/teardown calls in ``calls_file``.
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

import covalent_nb as ct
from covalent_nb.executor import registry
from tests.conftest import RunningServer, start_server

PLUGIN_SOURCE = Path(__file__).resolve().parents[1] / "plugin_package"
MARKER = "ran by echo plugin"


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory where ``pip install --target`` really installed the plugin (dist-info, entry points)."""
    root = tmp_path_factory.mktemp("echo_plugin")
    source = root / "source"  # a copy: the build leaves build/ and *.egg-info behind
    shutil.copytree(PLUGIN_SOURCE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    site = root / "site"
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation",
                           "--no-index", "--quiet", "--disable-pip-version-check", "--target", str(site),
                           str(source)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, (f"pip could not install the plugin (building without isolation needs "
                                  f"setuptools and wheel here):\n{done.stdout}\n{done.stderr}")
    entry_points = next(site.glob("covalent_nb_echo_plugin-*.dist-info")) / "entry_points.txt"
    assert "echo = covalent_nb_echo_plugin:EchoExecutor" in entry_points.read_text()
    return site


@pytest.fixture(scope="module")
def plugin_server(plugin_site: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server (no Dask cluster) that has the plugin on its path and an [executors.echo] section."""
    root = tmp_path_factory.mktemp("plugin_server")
    (root / "config").mkdir()
    server_calls = root / "server_calls.txt"
    (root / "config" / "covalent.conf").write_text(
        f'[executors.echo]\ncalls_file = "{server_calls}"\ntag = "server config"\n')
    pythonpath = [str(plugin_site)] + [p for p in [os.environ.get("PYTHONPATH")] if p]
    running = start_server(root, workers=1, extra=("--no-cluster",),
                           env_extra={"PYTHONPATH": os.pathsep.join(pythonpath)})
    try:
        yield running
    finally:
        running.cli("stop")


@pytest.fixture
def echo_plugin(plugin_server: RunningServer, plugin_site: Path, tmp_path: Path,
              monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The plugin module, importable in this process, and a client configured for the plugin server."""
    monkeypatch.setenv("COVALENT_NB_CONFIG_DIR", str(tmp_path / "client_config"))
    monkeypatch.setenv("COVALENT_NB_TOKEN", plugin_server.token)
    monkeypatch.syspath_prepend(str(plugin_site))
    yield importlib.import_module("covalent_nb_echo_plugin")
    sys.modules.pop("covalent_nb_echo_plugin", None)
    registry._entry_points.cache_clear()
    registry.executor_class.cache_clear()


def server_calls(server: RunningServer) -> list[str]:
    path = server.data_dir.parent / "server_calls.txt"
    return path.read_text().splitlines() if path.exists() else []


def run(flow: Any, server: RunningServer, *args: Any) -> Any:
    result = ct.dispatch_sync(flow, dispatcher_addr=server.addr)(*args)
    assert result.status == "COMPLETED", result.error
    return result


def stdout_of(result: Any, name: str) -> str:
    return next(n["stdout"] for n in result.get_all_node_results() if n["node_name"] == name)


def test_server_side_short_name_takes_the_servers_config(plugin_server, echo_plugin):
    @ct.electron(executor="echo")
    def shout(word):
        print(word.upper())
        return word * 2

    @ct.lattice
    def flow(word):
        return shout(word)

    before = len(server_calls(plugin_server))
    result = run(flow, plugin_server, "hi")
    assert result.result == "hihi"
    assert stdout_of(result, "shout") == f"HI\n{MARKER} (server config)\n"
    node_id = next(n["node_id"] for n in result.get_all_node_results() if n["node_name"] == "shout")
    assert server_calls(plugin_server)[before:] == [f"setup {node_id}", f"teardown {node_id}"]


def test_client_side_instance_is_not_changed_by_the_server(plugin_server, echo_plugin, tmp_path):
    client_calls = tmp_path / "client_calls.txt"
    echo = echo_plugin.EchoExecutor(calls_file=str(client_calls), tag="client")

    @ct.electron(executor=echo)
    def add(x, y):
        return x + y

    @ct.lattice
    def flow(a):
        return add(add(a, 1), 2)

    before = server_calls(plugin_server)
    result = run(flow, plugin_server, 10)
    assert result.result == 13
    for node in result.get_all_node_results():
        if node["node_name"] == "add":
            assert node["stdout"] == f"{MARKER} (client)\n"
    assert sorted(client_calls.read_text().split()[0::2]) == ["setup"] * 2 + ["teardown"] * 2
    assert server_calls(plugin_server) == before  # the server's calls_file was not used


def test_partially_defined_instance_is_filled_from_the_client_config(plugin_server, echo_plugin, tmp_path):
    ct.set_config({"executors.echo.tag": "client config"})
    echo = echo_plugin.EchoExecutor(calls_file=str(tmp_path / "calls.txt"))
    assert echo.to_spec()["attrs"] == {"calls_file": str(tmp_path / "calls.txt"), "tag": "client config"}

    @ct.electron(executor=echo)
    def square(x):
        return x * x

    @ct.lattice
    def flow(x):
        return square(x)

    result = run(flow, plugin_server, 7)
    assert result.result == 49
    assert stdout_of(result, "square") == f"{MARKER} (client config)\n"
