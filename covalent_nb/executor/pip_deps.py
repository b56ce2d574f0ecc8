"""Install a task's pip packages into an isolated, reusable directory.

Each distinct set of requirements gets its own directory,
``<cache_dir>/<sha256 of the sorted requirements>[:16]``, filled once by
``pip install --target`` and reused by every later task that asks for the same
set. A marker file, written last, says the install is complete; an exclusive
``flock`` on ``<dir>.lock`` makes concurrent tasks (threads or processes on one
machine) wait for a single install instead of racing.

The runner puts the directory at the front of ``sys.path`` only while the task
runs (see :mod:`covalent_nb.executor.runner`); the worker's own environment is
never changed.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from typing import Sequence, TextIO

from covalent_nb.errors import CovalentNBError

__all__ = ["PipInstallError", "default_cache_dir", "install_isolated", "requirements_key"]

_MARKER = ".covalent_nb-complete"
_OUTPUT_TAIL = 4000


class PipInstallError(CovalentNBError):
    """pip could not install a task's packages; the message ends with pip's output."""

    def __init__(self, packages: Sequence[str], returncode: int, output: str) -> None:
        tail = output[-_OUTPUT_TAIL:]
        super().__init__(
            f"pip could not install {list(packages)} (exit code {returncode}); "
            f"check the package names in deps_pip. pip said:\n{tail}"
        )
        self.packages = list(packages)
        self.returncode = returncode
        self.output = output


def default_cache_dir() -> str:
    """Where isolated installs go when no cache dir is configured."""
    return os.path.join(tempfile.gettempdir(), "covalent_nb-pip")


def requirements_key(packages: Sequence[str]) -> str:
    """The directory name of a requirement set: order does not matter."""
    text = "\n".join(sorted(packages))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def install_isolated(packages: Sequence[str], cache_dir: str | None = None,
                     *, output: TextIO | None = None) -> str:
    """Install ``packages`` into their own directory (once) and return that directory.

    ``output``, when given, receives pip's output if an install actually ran.
    Raises :class:`PipInstallError` carrying pip's output when pip fails; the
    half-filled directory is removed so that a later task tries again.
    """
    packages = list(packages)
    if not packages:
        raise ValueError("install_isolated needs at least one package")
    base = cache_dir or default_cache_dir()
    target = os.path.join(base, requirements_key(packages))
    marker = os.path.join(target, _MARKER)
    if os.path.exists(marker):
        return target
    os.makedirs(base, exist_ok=True)
    with open(target + ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not os.path.exists(marker):
                _pip_install(packages, target, output)
                with open(marker, "w") as f:
                    f.write("\n".join(packages) + "\n")
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return target


def _pip_install(packages: list[str], target: str, output: TextIO | None) -> None:
    if os.path.isdir(target):  # left over by an install that died half-way
        shutil.rmtree(target)
    command = [sys.executable, "-m", "pip", "install", "--target", target,
               "--no-input", "--disable-pip-version-check", *packages]
    proc = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, stdin=subprocess.DEVNULL)
    if output is not None:
        output.write(proc.stdout)
    if proc.returncode != 0:
        shutil.rmtree(target, ignore_errors=True)
        raise PipInstallError(packages, proc.returncode, proc.stdout)
