"""The ``%%covalent`` and ``%covalent`` magics in an in-process IPython shell, against a real dispatcher.

The session's ``server`` fixture starts a dispatcher and configures this
process's client for it; cells run in IPython's ``InteractiveShell`` (no
kernel), so electrons defined in earlier cells live in its ``__main__``
namespace as they would in a notebook.
"""

from __future__ import annotations

import textwrap
import time
import uuid
from typing import Any, Iterator

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import ExecutionResult, InteractiveShell
from traitlets.config import Config

import covalent_nb as ct
from covalent_nb import _config
from covalent_nb.client.connect import connection
from covalent_nb.notebook import magics
from covalent_nb.notebook.cell_lattice import CellSyntaxError
from covalent_nb.notebook.handle import DispatchHandle
from covalent_nb.notebook.magics import CellBuildError, CellWorkflowError, CovalentMagicError
from tests.conftest import RunningServer, free_port

SLOW_SECONDS = 30
"""How long the tasks that get cancelled would run; they run with the local executor, whose
cancel kills the task's process, so they do not hold a Dask worker of the shared server."""


@pytest.fixture(scope="module")
def shell(server: RunningServer) -> Iterator[InteractiveShell]:
    """An IPython shell with ``%load_ext covalent_nb`` and a few electrons defined in its cells."""
    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    ipython = InteractiveShell.instance(config=config)
    assert run(ipython, "%load_ext covalent_nb").success
    checked(run(ipython, """
        import time
        import covalent_nb as ct

        @ct.electron
        def add(x, y):
            return x + y

        @ct.electron
        def double(x):
            return 2 * x

        @ct.electron
        def divide(x, y):
            return x / y

        @ct.electron
        def slow(x, seconds):
            time.sleep(seconds)
            return x
    """))
    yield ipython


def run(shell: InteractiveShell, code: str) -> ExecutionResult:
    """Run one cell (dedented) as the notebook would."""
    return shell.run_cell(textwrap.dedent(code).lstrip("\n"), store_history=True)


def checked(result: ExecutionResult) -> ExecutionResult:
    assert result.error_in_exec is None and result.error_before_exec is None, result
    return result


def dispatch_ids() -> list[str]:
    """Every dispatch of this client, newest first."""
    return [d["id"] for d in connection().get_json("dispatches?limit=10000")["dispatches"]]


def test_wait_puts_assigned_values_in_the_namespace_and_returns_the_last_value(
        shell: InteractiveShell) -> None:
    checked(run(shell, "base = 20"))
    result = checked(run(shell, """
        %%covalent --wait -o waited
        a = add(base, 1)
        b = double(a)
        note = f"base was {base}"
        b
    """))
    assert result.result == 42
    ns = shell.user_ns
    assert (ns["a"], ns["b"], ns["note"]) == (21, 42, "base was 20")
    assert "__last__" not in ns
    handle = ns["waited"]
    assert isinstance(handle, DispatchHandle)
    stored = ct.get_result(handle.dispatch_id)
    assert stored.status == ct.status.COMPLETED
    assert stored.input_kwargs == {"base": 20}  # notebook data became the dispatch's inputs
    assert stored.lattice_source.startswith("a = add(base, 1)")
    names = sorted(n["node_name"] for n in stored.get_all_node_results() if n["kind"] == "electron")
    assert names == ["add", "double"]


def test_a_trailing_semicolon_hides_the_last_value_and_definitions_arrive(shell: InteractiveShell) -> None:
    result = checked(run(shell, """
        %%covalent --wait --name with_helper
        def helper(v):
            return v + 1
        c = add(helper(1), 1)
        c;
    """))
    assert result.result is None
    assert shell.user_ns["c"] == 3
    assert shell.user_ns["helper"](5) == 6


def test_executor_option_is_the_default_of_the_cells_electrons(shell: InteractiveShell) -> None:
    checked(run(shell, """
        %%covalent --wait --executor local --name on_local -o local_run
        d = double(4)
    """))
    assert shell.user_ns["d"] == 8
    stored = ct.get_result(shell.user_ns["local_run"].dispatch_id)
    assert stored.name == "on_local"
    assert stored._view["lattice"]["executor"] == {"name": "local", "attrs": {}}


def test_without_wait_the_cell_returns_a_handle_at_once(shell: InteractiveShell) -> None:
    started = time.monotonic()
    result = checked(run(shell, f"""
        %%covalent -o pending
        s = slow(7, 3)
        s
    """))
    assert time.monotonic() - started < 3
    handle = result.result
    assert isinstance(handle, DispatchHandle) and shell.user_ns["pending"] is handle
    assert not handle.status.is_terminal
    assert "s" not in shell.user_ns
    assert handle.dispatch_id in repr(handle)
    outcome = handle.result(wait=True)
    assert outcome.status == ct.status.COMPLETED
    assert outcome.result == {"s": 7, "__last__": 7}


def test_a_syntax_error_names_the_line_and_dispatches_nothing(
        shell: InteractiveShell, capsys: pytest.CaptureFixture[str]) -> None:
    before = dispatch_ids()
    result = run(shell, """
        %%covalent --wait
        a = add(1, 2)
        b = double(a
    """)
    assert isinstance(result.error_in_exec, CellSyntaxError)
    assert result.error_in_exec.lineno == 2
    shown = capsys.readouterr().out
    assert "CellSyntaxError" in shown and "b = double(a" in shown and "Nothing was dispatched" in shown
    assert "Traceback" not in shown  # one short message, not the magic's internals
    assert dispatch_ids() == before


def test_a_cell_whose_graph_cannot_be_built_dispatches_nothing(
        shell: InteractiveShell, capsys: pytest.CaptureFixture[str]) -> None:
    before = dispatch_ids()
    result = run(shell, """
        %%covalent --name broken
        a = add(1, 2)
        b = double(no_such_name)
    """)
    error = result.error_in_exec
    assert isinstance(error, CellBuildError) and isinstance(error, ct.GraphBuildError)
    assert "'broken'" in str(error) and "line 2" in str(error)
    assert "NameError" in str(error) and "no_such_name" in str(error)
    wrong_call = run(shell, "%%covalent\nx = add(1, 2, 3)\n").error_in_exec
    assert isinstance(wrong_call, CellBuildError) and "add" in str(wrong_call)
    assert "Traceback" not in capsys.readouterr().out
    assert dispatch_ids() == before


def test_a_failed_workflow_names_the_failed_task(shell: InteractiveShell,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    result = run(shell, """
        %%covalent --wait --name dividing -o failed_run
        ok = add(1, 1)
        bad = divide(ok, 0)
    """)
    error = result.error_in_exec
    assert isinstance(error, CellWorkflowError)
    assert error.result.status == ct.status.FAILED
    assert "'divide'" in str(error) and "ZeroDivisionError" in str(error)
    assert "ok" not in shell.user_ns and "bad" not in shell.user_ns  # nothing half-assigned
    shown = capsys.readouterr().out
    assert shell.user_ns["failed_run"].dispatch_id in shown  # the handle was displayed
    assert "CellWorkflowError" in shown and "Traceback (most recent call last)" not in shown


def test_interrupting_the_wait_leaves_the_workflow_running(
        shell: InteractiveShell, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def interrupted(dispatch_id: str, dispatcher_addr: str | None = None) -> Any:
        raise KeyboardInterrupt  # stands in for Ctrl-C while waiting (a real one: test_magic_in_kernel)

    monkeypatch.setattr(magics, "wait_for_result", interrupted)
    result = checked(run(shell, f"""
        %%covalent --wait -o interrupted_run --executor local
        s = slow(1, {SLOW_SECONDS})
    """))
    handle = shell.user_ns["interrupted_run"]
    assert result.result is handle
    dispatch_id = handle.dispatch_id
    assert (f"Still running: dispatch {dispatch_id}. Cancel it with %covalent cancel {dispatch_id} "
            f"(or ct.cancel(\"{dispatch_id}\")).") in capsys.readouterr().out
    assert not handle.status.is_terminal
    handle.cancel()
    assert handle.wait().status == ct.status.CANCELLED


def test_list_shows_dispatches_newest_first_with_status_and_progress(
        shell: InteractiveShell, capsys: pytest.CaptureFixture[str]) -> None:
    checked(run(shell, "%%covalent --wait --name listed_first\nx1 = add(1, 2)\n"))
    checked(run(shell, "%%covalent --wait --name listed_second -o second\nx2 = add(3, 4)\ny2 = add(x2, 1)\n"))
    capsys.readouterr()
    checked(run(shell, "%covalent list -n 2"))
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split() == ["ID", "NAME", "STATUS", "PROGRESS", "STARTED"]
    assert len(lines) == 3
    newest = ct.get_result(shell.user_ns["second"].dispatch_id)
    assert len(newest.get_all_node_results()) > 2  # parameters and the cell's result are not counted
    assert lines[1].split()[:4] == [newest.dispatch_id, "listed_second", "COMPLETED", "2/2"]
    assert lines[2].split()[1] == "listed_first"


def test_show_returns_the_widget_for_any_dispatch_id(shell: InteractiveShell) -> None:
    checked(run(shell, "%%covalent --wait -o shown\ny = add(2, 2)\n"))
    dispatch_id = shell.user_ns["shown"].dispatch_id
    widget = checked(run(shell, f"%covalent show {dispatch_id}")).result
    assert type(widget).__name__ in ("DispatchWidget", "DispatchHandle")
    bundle = widget._repr_mimebundle_()
    assert dispatch_id in str(bundle)
    for unknown in ("no-such-dispatch", str(uuid.uuid4())):
        missing = run(shell, f"%covalent show {unknown}").error_in_exec
        assert isinstance(missing, CovalentMagicError) and f"no dispatch {unknown!r}" in str(missing)


def test_cancel_cancels_a_running_dispatch(shell: InteractiveShell, capsys: pytest.CaptureFixture[str]) -> None:
    handle = checked(run(shell, f"%%covalent --executor local\ns = slow(1, {SLOW_SECONDS})\n")).result
    capsys.readouterr()
    checked(run(shell, f"%covalent cancel {handle.dispatch_id}"))
    assert f"Dispatch {handle.dispatch_id}: CANCELLED" in capsys.readouterr().out
    assert handle.wait().status == ct.status.CANCELLED


def test_status_says_which_dispatcher_and_whether_it_answers(
        server: RunningServer, shell: InteractiveShell, capsys: pytest.CaptureFixture[str]) -> None:
    checked(run(shell, "%covalent status"))
    shown = capsys.readouterr().out
    assert f"Dispatcher: http://127.0.0.1:{server.port}/" in shown
    assert "Found via:  the config file" in shown
    assert "Reachable:  yes" in shown
    closed = free_port()
    checked(run(shell, f"%covalent status --addr 127.0.0.1:{closed}"))
    shown = capsys.readouterr().out
    assert f"Dispatcher: http://127.0.0.1:{closed}/" in shown and "Found via:  dispatcher_addr" in shown
    assert "Reachable:  no (no covalent-nb dispatcher answers" in shown


def test_config_shows_the_settings_and_masks_tokens(
        server: RunningServer, shell: InteractiveShell, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("COVALENT_NB_TOKEN", "very-secret-token")
    checked(run(shell, "%covalent config"))
    shown = capsys.readouterr().out
    assert "[dispatcher]" in shown and f"port = {server.port}" in shown
    assert "COVALENT_NB_TOKEN=****" in shown
    assert (f"Dispatcher: http://127.0.0.1:{server.port}/ (found via the config file {_config.config_path()}, "
            "set by ct.set_config in this process; token ****)") in shown
    assert "very-secret-token" not in shown


def test_unknown_or_missing_subcommands_print_the_usage(shell: InteractiveShell) -> None:
    for line, message in (("%covalent frobnicate", "unknown subcommand 'frobnicate'"),
                          ("%covalent", "a subcommand is needed"),
                          ("%covalent cancel", "needs a dispatch id")):
        error = run(shell, line).error_in_exec
        assert isinstance(error, UsageError) and message in str(error), line
    assert isinstance(run(shell, "%%covalent -o 1bad\nx = 1\n").error_in_exec, UsageError)


def test_handles_ask_the_dispatcher_and_degrade_to_text_when_it_is_gone(shell: InteractiveShell) -> None:
    checked(run(shell, "%%covalent --wait -o asked\nq = add(5, 5)\n"))
    handle = shell.user_ns["asked"]
    assert handle.status == ct.status.COMPLETED
    assert handle.wait().result == {"q": 10}
    assert handle.result(wait=False).status == ct.status.COMPLETED
    assert f"<DispatchHandle {handle.dispatch_id}: COMPLETED>" == repr(handle)
    with pytest.raises(ct.DispatchNotFoundError):
        DispatchHandle(str(uuid.uuid4())).wait()  # the waiting thread's error reaches the caller
    gone = DispatchHandle(handle.dispatch_id, f"127.0.0.1:{free_port()}")
    assert "status unknown: no covalent-nb dispatcher answers" in repr(gone)
    bundle = gone._repr_mimebundle_()
    assert list(bundle) == ["text/plain"] and "no widget" in bundle["text/plain"]
