"""``covalent-nb`` answers a command it does not have with its commands and the close one."""

from __future__ import annotations

import subprocess
import sys

import pytest

from covalent_nb import cli


def test_a_mistyped_command_names_the_close_ones() -> None:
    done = subprocess.run([sys.executable, "-m", "covalent_nb", "strat"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == (
        "covalent-nb: error: argument COMMAND: invalid choice: 'strat' (choose from 'serve', 'start', 'stop', "
        "'restart', 'status', 'executors', 'logs', 'gc', 'purge', 'demo', 'ui'); did you mean 'start', 'status' or "
        "'restart'?")


def test_a_command_close_to_none_lists_them_only(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["frobnicate"])
    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert "invalid choice: 'frobnicate' (choose from 'serve', " in error and "did you mean" not in error
