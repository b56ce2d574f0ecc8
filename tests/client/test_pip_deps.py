"""DepsPip through a real server: an isolated, cached install that never touches the server's environment."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import covalent_nb as ct
from tests.executor.test_pip_deps import tiny_package  # noqa: F401 - the fixture


def test_pip_deps_isolated_and_cached(server, tiny_package):  # noqa: F811
    @ct.electron(deps_pip=ct.DepsPip(packages=[str(tiny_package)]))
    def use_it():
        import cnb_tinypkg
        return cnb_tinypkg.MAGIC, cnb_tinypkg.__file__

    @ct.lattice
    def flow():
        return use_it()

    first = ct.dispatch_sync(flow)()
    assert first.status == "COMPLETED", first.error
    magic, location = first.result
    assert magic == "tiny-42"
    assert str(server.data_dir / "pip-cache") in location   # its own directory, under the server's data dir
    assert "Successfully installed" in first.get_all_node_results()[-1]["stdout"] or any(
        "Successfully installed" in n["stdout"] for n in first.get_all_node_results())
    second = ct.dispatch_sync(flow)()
    assert second.result == first.result                     # the same cached directory, reused
    assert not any("Successfully installed" in n["stdout"] for n in second.get_all_node_results())
    # neither this process nor the environment the server runs in can import it
    assert importlib.util.find_spec("cnb_tinypkg") is None
    check = subprocess.run([sys.executable, "-c", "import cnb_tinypkg"], capture_output=True)
    assert check.returncode != 0


def test_failing_pip_install_fails_the_task_with_pips_message(server, tmp_path):
    missing = tmp_path / "no-such-package-dir"

    @ct.electron(deps_pip=[str(missing)])
    def never():
        return "ran"

    @ct.lattice
    def flow():
        return never()

    result = ct.dispatch_sync(flow)()
    assert result.status == "FAILED"
    node = next(n for n in result.get_all_node_results() if n["node_name"] == "never")
    assert "pip" in node["error"].lower()
    assert "no-such-package-dir" in node["error"]
