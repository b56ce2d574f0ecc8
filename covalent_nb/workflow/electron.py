"""Electrons: the tasks of a workflow.

``@electron`` wraps a function in an :class:`Electron`. Called outside a
lattice build it is the plain function; called while a lattice's graph is
built it records a node and returns a :class:`~covalent_nb.workflow.proxy.NodeProxy`.
``electron(some_lattice)`` makes a sublattice electron.
"""

from __future__ import annotations

import functools
import inspect
import math
import numbers
from typing import Any, Callable

from covalent_nb.workflow.builder import current_builder
from covalent_nb.workflow.deps import DepsSpec
from covalent_nb.workflow.graph import executor_spec
from covalent_nb.workflow.lattice import Lattice
from covalent_nb.workflow.proxy import fixed_return_length

__all__ = ["Electron", "electron", "wait"]

_CACHED = ("signature", "return_length")


class Electron:
    """A task: a function (or a lattice, for a sublattice) with its execution options.

    Attributes: ``function`` (the plain function, or the inner :class:`Lattice`;
    also ``__wrapped__``), ``executor_spec`` (``{"name", "attrs"}`` or None),
    ``deps`` (:class:`DepsSpec`), ``retries``, ``time_limit`` (seconds or None).
    ``__name__``, ``__doc__`` and the signature are the function's.
    """

    def __init__(self, function: Callable[..., Any], *, executor: Any = None, deps_bash: Any = None,
                 deps_pip: Any = None, call_before: Any = None, call_after: Any = None,
                 retries: int = 0, time_limit: float | None = None) -> None:
        if isinstance(function, Electron):
            function = function.function
        if not callable(function):
            raise TypeError(f"electron() takes a function or a lattice, not {type(function).__name__}")
        # A lattice's own attributes (workflow_function, deps, ...) must not leak onto the electron.
        functools.update_wrapper(self, function, updated=() if isinstance(function, Lattice) else ("__dict__",))
        self.__dict__.setdefault("__name__", type(function).__name__)
        owner = f"electron {self.__name__!r}"
        self.function = function
        self.executor_spec = executor_spec(executor, owner)
        self.deps = DepsSpec.from_options(deps_bash, deps_pip, call_before, call_after)
        self.retries = _checked_retries(retries, owner)
        self.time_limit = _checked_time_limit(time_limit, owner)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        builder = current_builder()
        if builder is None:
            return self.function(*args, **kwargs)
        return builder.add_task(self, args, kwargs)

    @property
    def is_sublattice(self) -> bool:
        """Whether this electron runs a whole lattice as one node."""
        return isinstance(self.function, Lattice)

    @property
    def options(self) -> dict[str, Any]:
        """The node options: ``{"retries": ..., "time_limit": ...}``."""
        return {"retries": self.retries, "time_limit": self.time_limit}

    @functools.cached_property
    def signature(self) -> inspect.Signature | None:
        """The function's signature (None when it cannot be inspected)."""
        try:
            return inspect.signature(self.function)
        except (TypeError, ValueError):
            return None

    @functools.cached_property
    def return_length(self) -> int | None:
        """How many items the function returns, when its return annotation says so."""
        return fixed_return_length(inspect.unwrap(self.function))

    def __getstate__(self) -> dict[str, Any]:
        return {key: value for key, value in self.__dict__.items() if key not in _CACHED}

    def __repr__(self) -> str:
        kind = "sublattice " if self.is_sublattice else ""
        executor = f", executor={self.executor_spec['name']!r}" if self.executor_spec else ""
        return f"<Electron {kind}{self.__name__}{executor}>"


def electron(func: Callable[..., Any] | None = None, *, executor: Any = None, deps_bash: Any = None,
             deps_pip: Any = None, call_before: Any = None, call_after: Any = None,
             retries: int = 0, time_limit: float | None = None) -> Any:
    """Mark a function as a task: ``@electron``, ``@electron(executor="local", ...)``.

    ``electron(some_lattice)`` makes a sublattice electron. ``executor`` is
    None (the dispatch default), a short name or an executor object with
    ``to_spec()``; ``retries`` is how often a failed task is run again;
    ``time_limit`` is in seconds. Returns an :class:`Electron` (or, without
    ``func``, a decorator making one).
    """
    options = dict(executor=executor, deps_bash=deps_bash, deps_pip=deps_pip, call_before=call_before,
                   call_after=call_after, retries=retries, time_limit=time_limit)
    if func is None:
        return functools.partial(Electron, **options)
    return Electron(func, **options)


def wait(child: Any, parents: Any) -> Any:
    """Make ``child`` start only after every parent has ended; no data flows. Returns ``child``.

    ``parents`` is one electron output or a list of them. Outside a lattice
    build it does nothing.
    """
    builder = current_builder()
    if builder is None:
        return child
    builder.add_wait(child, list(parents) if isinstance(parents, (list, tuple, set)) else [parents])
    return child


def _checked_retries(retries: Any, owner: str) -> int:
    if isinstance(retries, bool) or not isinstance(retries, numbers.Integral):
        raise TypeError(f"{owner}: retries must be an int, not {type(retries).__name__}")
    if retries < 0:
        raise ValueError(f"{owner}: retries must be 0 or more, not {retries}")
    return int(retries)


def _checked_time_limit(time_limit: Any, owner: str) -> float | None:
    if time_limit is None:
        return None
    if isinstance(time_limit, bool) or not isinstance(time_limit, numbers.Real):
        raise TypeError(f"{owner}: time_limit must be a number of seconds or None, "
                        f"not {type(time_limit).__name__}")
    if not (time_limit > 0 and math.isfinite(time_limit)):
        raise ValueError(f"{owner}: time_limit must be a positive, finite number of seconds, not {time_limit}")
    return int(time_limit) if isinstance(time_limit, numbers.Integral) else float(time_limit)
