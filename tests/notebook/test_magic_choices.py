"""``%covalent`` answers a subcommand it does not have with its subcommands and the close one."""

from __future__ import annotations

from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from tests.notebook.test_magics import run, shell  # noqa: F401  (the shell fixture, shared)


def test_a_mistyped_subcommand_names_the_close_one(shell: InteractiveShell) -> None:  # noqa: F811
    error = run(shell, "%covalent stauts").error_in_exec
    assert isinstance(error, UsageError)
    assert str(error).splitlines()[0] == ("%covalent: unknown subcommand 'stauts'; use one of: list, show, cancel, "
                                          "delete, status, config, ui; did you mean 'status'?")
    error = run(shell, "%covalent").error_in_exec
    assert isinstance(error, UsageError)
    assert str(error).splitlines()[0] == ("%covalent: a subcommand is needed; use one of: list, show, cancel, "
                                          "delete, status, config, ui")
