"""A Jupyter server with dispatches running counts as active, so idle cullers leave it alone.

The server runs with ``--CovalentNB.activity_interval=0.5``; a workflow of one
task, which runs until the test creates a release file, is dispatched through
its API (with its token) from this process, and ``GET /api/status`` (which
itself is not counted as activity) is read while the task runs and after it
has ended. No kernel is running, so nothing else renews the server's activity.
"""

from __future__ import annotations

import datetime
import time
from pathlib import Path
from typing import Iterator

import pytest

import covalent_nb as ct

from .jupyter_process import JupyterServer, running_jupyter


@pytest.fixture(scope="module")
def jupyter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    """A Jupyter server with the extension renewing activity every half second."""
    with running_jupyter(tmp_path_factory.mktemp("jupyter_activity"),
                         ("--CovalentNB.activity_interval=0.5",)) as server:
        yield server


def last_activity(jupyter: JupyterServer) -> datetime.datetime:
    """The server's ``last_activity`` from ``/api/status``."""
    return datetime.datetime.fromisoformat(jupyter.status()["last_activity"])


def dispatch_held_workflow(jupyter: JupyterServer, release: Path) -> str:
    """Dispatch a one-task workflow whose task runs until ``release`` exists (60 s at most)."""
    @ct.electron
    def nap(release: str) -> str:
        deadline = time.monotonic() + 60
        while not Path(release).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        return "rested"

    @ct.lattice
    def napping(release: str) -> str:
        return nap(release)

    return ct.dispatch(napping, dispatcher_addr=f"{jupyter.url}covalent/")(str(release))


def wait_until_task_runs(jupyter: JupyterServer, dispatch_id: str, name: str, timeout: float = 30.0) -> None:
    """Poll the dispatch (bounded) until its task ``name`` is RUNNING."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        view = jupyter.get(f"covalent/api/v1/dispatches/{dispatch_id}").json()
        if any(node["name"] == name and node["status"] == "RUNNING" for node in view["nodes"]):
            return
        time.sleep(0.1)
    raise AssertionError(f"task {name} did not start within {timeout} s\n{jupyter.log()}")


def test_running_dispatch_renews_activity_then_stops(jupyter: JupyterServer, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COVALENT_NB_TOKEN", jupyter.token)
    extension_url = f"{jupyter.url}covalent/"
    release = tmp_path / "release"
    dispatch_id = dispatch_held_workflow(jupyter, release)
    wait_until_task_runs(jupyter, dispatch_id, "nap")
    time.sleep(1.0)  # past the API calls and the task's start: from here only the renewal moves it

    while_running = last_activity(jupyter)
    time.sleep(3.0)
    later = last_activity(jupyter)
    assert later - while_running >= datetime.timedelta(seconds=2), (while_running, later, jupyter.log())

    release.touch()
    result = ct.get_result(dispatch_id, wait=True, dispatcher_addr=extension_url)
    assert (result.status, result.result) == ("COMPLETED", "rested")
    time.sleep(1.0)
    after_end = last_activity(jupyter)
    time.sleep(2.0)
    assert last_activity(jupyter) == after_end  # nothing runs: the server may go idle
