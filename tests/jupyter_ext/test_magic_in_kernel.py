"""``%%covalent`` in a real kernel of a real Jupyter server with covalent-nb's extension.

The kernel is started through the server's REST API and driven over its
websocket; it finds the dispatcher the extension runs inside the server. The
tests assert on the kernel's namespace, its errors, a real interrupt (the
REST API's ``interrupt``, i.e. Ctrl-C) and the widget the handle cell
displays: its view and its model state as the kernel publishes them (what a
saved notebook keeps).
"""

from __future__ import annotations

import contextlib
import re
import textwrap
import threading
import time
from typing import Any, Iterator

import pytest

from . import kernel_client
from .jupyter_process import JupyterServer, http_request, running_jupyter
from .kernel_client import KernelClient, Outcome

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"

ELECTRONS = """
    import time
    import covalent_nb as ct

    @ct.electron
    def times(x, y):
        return x * y

    @ct.electron
    def slow(x, seconds):
        time.sleep(seconds)
        return x
"""

COUNT_DISPATCHES = """
    from covalent_nb.client.connect import connection
    print("dispatches:", len(connection().get_json("dispatches?limit=10000")["dispatches"]))
"""


@pytest.fixture(scope="module")
def jupyter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    """A Jupyter server with covalent-nb's extension (its dispatcher inside), nothing configured."""
    with running_jupyter(tmp_path_factory.mktemp("jupyter_magic")) as server:
        yield server


@pytest.fixture
def kernel(jupyter: JupyterServer) -> Iterator[KernelClient]:
    """A fresh kernel with the magics loaded and a few electrons defined in a cell."""
    client = jupyter.start_kernel()
    try:
        ok(client.execute("%load_ext covalent_nb"), jupyter)
        ok(client.execute(textwrap.dedent(ELECTRONS)), jupyter)
        yield client
    finally:
        client.shutdown()


def ok(outcome: Outcome, jupyter: JupyterServer) -> Outcome:
    assert outcome.error is None, f"{outcome}\n--- server log ---\n{jupyter.log()}"
    return outcome


def run(kernel: KernelClient, code: str, timeout: float = 90) -> Outcome:
    return kernel.execute(textwrap.dedent(code).lstrip("\n"), timeout=timeout)


@contextlib.contextmanager
def recorded_messages() -> Iterator[list[dict[str, Any]]]:
    """Every iopub message of the executions inside the block (the helper keeps only text/plain)."""
    messages: list[dict[str, Any]] = []
    collect = kernel_client._collect

    def collect_and_record(outcome: Outcome, msg: dict[str, Any]) -> None:
        messages.append(msg)
        collect(outcome, msg)

    kernel_client._collect = collect_and_record
    try:
        yield messages
    finally:
        kernel_client._collect = collect


def dispatch_count(kernel: KernelClient, jupyter: JupyterServer) -> int:
    printed = ok(run(kernel, COUNT_DISPATCHES), jupyter).stdout
    return int(re.search(r"dispatches: (\d+)", printed).group(1))


def test_wait_cell_assigns_into_the_kernel_namespace(kernel: KernelClient, jupyter: JupyterServer) -> None:
    ok(run(kernel, "factor = 3"), jupyter)
    outcome = ok(run(kernel, """
        %%covalent --wait --name scaled_cell
        scaled = times(factor, 14)
        label = f"factor {factor}"
        scaled
    """), jupyter)
    assert outcome.results == ["42"]  # the last expression is the cell's result
    printed = ok(run(kernel, "print(scaled, label, type(scaled).__name__)"), jupyter).stdout
    assert printed.strip() == "42 factor 3 int"


def test_a_syntax_error_is_reported_and_nothing_is_dispatched(kernel: KernelClient,
                                                              jupyter: JupyterServer) -> None:
    before = dispatch_count(kernel, jupyter)
    outcome = run(kernel, """
        %%covalent --wait
        first = times(2, 3)
        second = times(first 4)
    """)
    assert outcome.error is not None
    assert outcome.error.startswith("CellSyntaxError: %%covalent cell, line 2")
    assert "second = times(first 4)" in outcome.error and "Nothing was dispatched" in outcome.error
    assert "Traceback" not in outcome.error
    assert dispatch_count(kernel, jupyter) == before
    failed_build = run(kernel, "%%covalent\nthird = times(undefined_name, 2)\n")
    assert failed_build.error is not None and failed_build.error.startswith("CellBuildError:")
    assert "undefined_name" in failed_build.error
    assert dispatch_count(kernel, jupyter) == before
    assert "first" not in ok(run(kernel, "print(dir())"), jupyter).stdout


def test_handle_cell_shows_the_widget_and_the_result_comes_later(kernel: KernelClient,
                                                                 jupyter: JupyterServer) -> None:
    with recorded_messages() as messages:
        outcome = ok(run(kernel, """
            %%covalent -o h --name handle_cell
            product = times(6, 7)
            product
        """), jupyter)
    shown = [m for m in messages if m["msg_type"] in ("execute_result", "display_data")]
    assert len(shown) == 1, outcome
    data = shown[0]["content"]["data"]
    assert WIDGET_VIEW in data, sorted(data)
    assert "<svg" in data["text/html"]  # the static picture for viewers without widgets
    model_id = data[WIDGET_VIEW]["model_id"]
    opened = {m["content"]["comm_id"]: m["content"]["data"]["state"] for m in messages
              if m["msg_type"] == "comm_open"}
    assert model_id in opened  # the widget's state went to the frontend (and a saved notebook)
    assert opened[model_id]["_model_name"] == "VBoxModel"
    printed = ok(run(kernel, """
        result = h.result(wait=True)
        print(result.status, result.result)
    """), jupyter).stdout
    assert printed.strip() == "COMPLETED {'product': 42, '__last__': 42}"


def test_interrupting_a_waiting_cell_leaves_the_workflow_running(kernel: KernelClient,
                                                                 jupyter: JupyterServer) -> None:
    interrupter = threading.Thread(target=interrupt_when_running, args=(jupyter, kernel, "interrupted_cell"))
    interrupter.start()
    try:
        outcome = run(kernel, """
            %%covalent --wait -o long_running --name interrupted_cell --executor local
            nap = slow(1, 120)
        """)
    finally:
        interrupter.join()
    assert outcome.error is None, outcome  # an interrupted wait is not a failure
    match = re.search(r"Still running: dispatch (\S+)\. Cancel it with %covalent cancel (\S+) "
                      r"\(or ct\.cancel\(\"(\S+)\"\)\)\.", outcome.stdout)
    assert match and match.group(1) == match.group(2) == match.group(3), outcome
    printed = ok(run(kernel, """
        print(long_running.dispatch_id, long_running.status)
        %covalent cancel {long_running.dispatch_id}
        print(long_running.wait().status)
    """), jupyter).stdout.split("\n")
    assert printed[0] == f"{match.group(1)} RUNNING"
    assert printed[-2] == "CANCELLED"


def interrupt_when_running(jupyter: JupyterServer, kernel: KernelClient, name: str) -> None:
    """Once dispatch ``name`` runs, press Ctrl-C in the kernel (``POST .../interrupt``)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        answer = jupyter.get("covalent/api/v1/dispatches")
        if answer.status == 200 and any(d["name"] == name and d["status"] == "RUNNING"
                                        for d in answer.json()["dispatches"]):
            time.sleep(1.0)  # the cell is waiting by now
            http_request(f"{jupyter.url}api/kernels/{kernel.kernel_id}/interrupt", "POST", jupyter.token, {})
            return
        time.sleep(0.2)
