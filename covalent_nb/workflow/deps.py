"""Task dependencies and hooks: shell commands, pip packages and calls around a task.

Covalent's order is kept: bash commands, pip packages, ``call_before``, the
task, ``call_after``. These objects are built on the client and pickled into
a task's ``hooks`` blob; only the task runner executes them.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

__all__ = ["DepsBash", "DepsCall", "DepsPip", "TaskHooks", "make_hooks"]


class DepsBash:
    """Shell commands run before the task, in the task's environment."""

    def __init__(self, commands: str | Sequence[str] = ()) -> None:
        if isinstance(commands, str):
            commands = [commands]
        commands = list(commands)
        for command in commands:
            if not isinstance(command, str):
                raise TypeError(f"DepsBash takes shell commands as strings, not {type(command).__name__}")
        self.commands: list[str] = commands

    def __repr__(self) -> str:
        return f"DepsBash({self.commands!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DepsBash) and other.commands == self.commands


class DepsPip:
    """pip packages installed (in an isolated directory) before the task runs.

    ``reqs_path`` names a requirements file; it is read here, on the client,
    so the packages travel with the dispatch.
    """

    def __init__(self, packages: str | Sequence[str] = (), reqs_path: str = "") -> None:
        if isinstance(packages, str):
            packages = [packages]
        packages = list(packages)
        for package in packages:
            if not isinstance(package, str):
                raise TypeError(f"DepsPip takes package names as strings, not {type(package).__name__}")
        if reqs_path:
            lines = Path(reqs_path).read_text().splitlines()
            packages += [ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith("#")]
        self.packages: list[str] = packages
        self.reqs_path = reqs_path

    def __repr__(self) -> str:
        return f"DepsPip(packages={self.packages!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DepsPip) and other.packages == self.packages


class DepsCall:
    """A call made before or after the task.

    With ``retval_keyword`` (call_before only) its return value is passed to
    the task under that keyword; several calls with the same keyword give a list.
    """

    def __init__(
        self,
        func: Callable[..., Any],
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
        retval_keyword: str = "",
    ) -> None:
        if not callable(func):
            raise TypeError(f"DepsCall needs a callable, not {type(func).__name__}")
        self.func = func
        self.args = list(args)
        self.kwargs = dict(kwargs or {})
        self.retval_keyword = retval_keyword

    def call(self) -> Any:
        """Make the call and return its value."""
        return self.func(*self.args, **self.kwargs)

    def __repr__(self) -> str:
        name = getattr(self.func, "__name__", repr(self.func))
        return f"DepsCall({name}, retval_keyword={self.retval_keyword!r})"


@dataclasses.dataclass
class TaskHooks:
    """Everything a runner does around one task, in Covalent's order."""

    bash: list[str] = dataclasses.field(default_factory=list)
    pip: list[str] = dataclasses.field(default_factory=list)
    call_before: list[DepsCall] = dataclasses.field(default_factory=list)
    call_after: list[DepsCall] = dataclasses.field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.bash or self.pip or self.call_before or self.call_after)


def _bash_commands(value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, DepsBash):
        return list(value.commands)
    if isinstance(value, (str, list, tuple)):
        return DepsBash(value).commands
    raise TypeError(f"deps_bash takes a DepsBash, a string or a list of strings, not {type(value).__name__}")


def _pip_packages(value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, DepsPip):
        return list(value.packages)
    if isinstance(value, (str, list, tuple)):
        return DepsPip(value).packages
    raise TypeError(f"deps_pip takes a DepsPip or a list of package names, not {type(value).__name__}")


def _calls(value: Any, what: str) -> list[DepsCall] | None:
    if value is None:
        return None
    items: Iterable[Any] = value if isinstance(value, (list, tuple)) else [value]
    calls = []
    for item in items:
        if isinstance(item, DepsCall):
            calls.append(item)
        elif callable(item):
            calls.append(DepsCall(item))
        else:
            raise TypeError(f"{what} takes DepsCall objects or callables, not {type(item).__name__}")
    return calls


@dataclasses.dataclass
class DepsSpec:
    """Deps as given to one electron or lattice; None means 'not given'."""

    bash: list[str] | None = None
    pip: list[str] | None = None
    call_before: list[DepsCall] | None = None
    call_after: list[DepsCall] | None = None

    @classmethod
    def from_options(cls, deps_bash: Any = None, deps_pip: Any = None,
                     call_before: Any = None, call_after: Any = None) -> "DepsSpec":
        """Validate and normalize the decorator options."""
        return cls(_bash_commands(deps_bash), _pip_packages(deps_pip),
                   _calls(call_before, "call_before"), _calls(call_after, "call_after"))


def make_hooks(own: DepsSpec, inherited: DepsSpec | None) -> TaskHooks:
    """Merge an electron's deps with its lattice's: lattice deps fill what the electron lacks."""
    inherited = inherited or DepsSpec()

    def pick(mine: list | None, theirs: list | None) -> list:
        return list(mine if mine is not None else (theirs or []))

    return TaskHooks(
        bash=pick(own.bash, inherited.bash),
        pip=pick(own.pip, inherited.pip),
        call_before=pick(own.call_before, inherited.call_before),
        call_after=pick(own.call_after, inherited.call_after),
    )
