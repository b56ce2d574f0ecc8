"""``%covalent delete ID`` removes a finished dispatch; a running one is refused, an unknown one named."""

from __future__ import annotations

import uuid

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

import covalent_nb as ct
from covalent_nb.notebook.magics import CovalentMagicError
from tests.notebook.test_magics import SLOW_SECONDS, checked, dispatch_ids, run, shell  # noqa: F401


def test_delete_removes_a_finished_dispatch(shell: InteractiveShell,  # noqa: F811
                                            capsys: pytest.CaptureFixture[str]) -> None:
    checked(run(shell, "%%covalent --wait -o to_delete\nd = add(2, 3)\n"))
    handle = shell.user_ns["to_delete"]
    capsys.readouterr()
    checked(run(shell, f"%covalent delete {handle.dispatch_id}"))
    shown = capsys.readouterr().out
    assert shown.startswith(f"Deleted dispatch {handle.dispatch_id}; ") and "payload(s)" in shown
    assert handle.dispatch_id not in dispatch_ids()
    with pytest.raises(ct.DispatchNotFoundError):
        ct.get_result(handle.dispatch_id)


def test_delete_refuses_running_unknown_and_missing_ids(shell: InteractiveShell) -> None:  # noqa: F811
    handle = checked(run(shell, f"%%covalent --executor local\nr = slow(1, {SLOW_SECONDS})\n")).result
    error = run(shell, f"%covalent delete {handle.dispatch_id}").error_in_exec
    assert isinstance(error, CovalentMagicError) and "cancel it first" in str(error)
    handle.cancel()
    assert handle.wait().status == ct.status.CANCELLED
    checked(run(shell, f"%covalent delete {handle.dispatch_id}"))
    unknown = str(uuid.uuid4())
    error = run(shell, f"%covalent delete {unknown}").error_in_exec
    assert isinstance(error, CovalentMagicError) and f"no dispatch {unknown!r}" in str(error)
    error = run(shell, "%covalent delete").error_in_exec
    assert isinstance(error, UsageError) and "needs a dispatch id" in str(error)
