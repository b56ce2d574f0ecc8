"""Helpers for the web UI's browser tests: Debian's Chromium through Playwright, logins, gated workflows.

Chromium is launched by tests/jupyter_ext/test_browser.py's ``launch_chromium``
(``executable_path`` and the flags this machine needs: Playwright's own browser
download does not work here). Screenshots go to ``test-artifacts/ui/``.
"""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Any, Callable

import covalent_nb as ct
from covalent_nb.client.http import DispatcherConnection
from covalent_nb.workflow.manifest import build_manifest
from tests.conftest import RunningServer
from tests.jupyter_ext.test_browser import ARTIFACTS, CHROMIUM, launch_chromium

__all__ = ["ARTIFACTS", "CHROMIUM", "launch_chromium", "SHOTS", "api", "login_link", "shoot", "wait_until", "gated",
           "failing", "wait_for_gate", "gate_path", "double", "add_up", "explode", "manifest_with_payloads"]

SHOTS = ARTIFACTS / "ui"
"""Where the pages' screenshots go (the README's come from here)."""


def api(server: RunningServer) -> DispatcherConnection:
    """A client of the server's API with its token."""
    return DispatcherConnection(server.address, server.port, server.token)


def login_link(server: RunningServer) -> str:
    """A one-time login link to the server's UI (what ``covalent-nb ui`` opens)."""
    return f"http://{server.addr}/" + api(server).post_json("login-codes", {})["path"]


def manifest_with_payloads(lattice: Any, *args: Any) -> dict[str, Any]:
    """The manifest of ``lattice(*args)`` with its payloads inline: one ``POST dispatches`` body."""
    manifest, blobs = build_manifest(lattice, args, {})
    manifest["blobs"] = {key: base64.b64encode(data).decode() for key, data in blobs.items()}
    return manifest


def shoot(page: Any, name: str, full_page: bool = False) -> Path:
    """Save a screenshot of the page as ``test-artifacts/ui/<name>.png``."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Poll ``condition`` every 50 ms until it holds; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        time.sleep(0.05)


@ct.electron
def wait_for_gate(gate: str, i: int) -> int:
    """Runs until the file ``gate`` exists, then returns ``i * i``. A relative ``gate`` is a file of the
    server's data directory (its workers have COVALENT_NB_DATA_DIR): see :func:`gate_path`."""
    import os
    import time as clock

    print(f"task {i} waits for its gate")
    path = os.path.join(os.environ.get("COVALENT_NB_DATA_DIR", ""), gate)
    while not os.path.exists(path):
        clock.sleep(0.05)
    return i * i


def gate_path(server: RunningServer, gate: str) -> Path:
    """Where ``wait_for_gate(gate, ...)`` on ``server`` looks: touch it to let the tasks finish."""
    return server.data_dir / gate


@ct.electron
def add_up(values: list) -> int:
    return sum(values)


@ct.lattice
def gated(gate: str, n: int) -> int:
    """``n`` tasks that wait for the file ``gate``, and their sum."""
    return add_up([wait_for_gate(gate, i) for i in range(n)])


# Defined from source under a plain file name, so that its traceback names no folder of this machine.
_EXPLODE = 'def explode(x):\n    print(f"about to divide {x} by zero")\n    return x // 0\n'
_namespace: dict[str, Any] = {"__name__": "analysis"}
exec(compile(_EXPLODE, "analysis.py", "exec"), _namespace)
explode = ct.electron(_namespace["explode"])


@ct.electron
def double(x: int) -> int:
    return 2 * x


@ct.lattice
def failing(x: int) -> int:
    """A task that prints, then fails with ZeroDivisionError, beside one that completes."""
    return add_up([explode(x), double(x)])
