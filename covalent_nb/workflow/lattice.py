"""Lattices: workflows whose bodies call electrons.

Called directly, a :class:`Lattice` is its plain function (and inside another
lattice's build its body simply joins that build). :meth:`Lattice.build_graph`
records the body as a :class:`~covalent_nb.workflow.graph.TransportGraph`.
"""

from __future__ import annotations

import functools
import inspect
import textwrap
from typing import Any, Callable

from covalent_nb.workflow.builder import build_transport_graph
from covalent_nb.workflow.deps import DepsSpec
from covalent_nb.workflow.graph import TransportGraph, executor_spec

__all__ = ["Lattice", "lattice"]


class Lattice:
    """A workflow: a function whose electron calls become a transport graph.

    Attributes: ``workflow_function``, ``source`` (its source text, "" when
    unavailable), ``executor_spec`` (default executor of its electrons, or
    None), ``workflow_executor_spec``, ``deps`` (a :class:`DepsSpec` that fills
    in for electrons without deps of their own), ``__name__`` and ``__doc__``.
    """

    def __init__(self, function: Callable[..., Any], *, executor: Any = None,
                 workflow_executor: Any = None, deps_bash: Any = None, deps_pip: Any = None,
                 call_before: Any = None, call_after: Any = None) -> None:
        if isinstance(function, Lattice):
            function = function.workflow_function
        if not callable(function):
            raise TypeError(f"lattice() takes a function, not {type(function).__name__}")
        functools.update_wrapper(self, function)
        self.__dict__.setdefault("__name__", type(function).__name__)
        owner = f"lattice {self.__name__!r}"
        self.workflow_function = function
        self.source = _source_of(function)
        self.executor_spec = executor_spec(executor, owner)
        self.workflow_executor_spec = executor_spec(workflow_executor, owner)
        self.deps = DepsSpec.from_options(deps_bash, deps_pip, call_before, call_after)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.workflow_function(*args, **kwargs)

    def build_graph(self, *args: Any, **kwargs: Any) -> TransportGraph:
        """Run the body once, recording electron calls, and return the transport graph.

        Raises TypeError when the arguments do not fit the lattice's signature
        and :class:`~covalent_nb.errors.GraphBuildError` when the body fails.
        """
        return self.build_graph_for(args, kwargs)

    def build_graph_for(self, args: tuple[Any, ...], kwargs: dict[str, Any], *,
                        replace_electrons: dict[str, Any] | None = None) -> TransportGraph:
        """:meth:`build_graph` with the inputs as a tuple and a dict, optionally with
        electrons replaced by name (``{"finish": finish_v2}``, as in redispatch)."""
        self._check_arguments(args, kwargs)
        replacements = _replacement_electrons(replace_electrons or {})
        return build_transport_graph(self.__name__, self.workflow_function, self.deps,
                                     tuple(args), dict(kwargs), replacements)

    def _check_arguments(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        try:
            signature = inspect.signature(self.workflow_function)
        except (TypeError, ValueError):
            return
        try:
            signature.bind(*args, **kwargs)
        except TypeError as error:
            raise TypeError(f"lattice {self.__name__!r} was called with arguments that do not fit "
                            f"{self.__name__}{signature}: {error}") from None

    def __repr__(self) -> str:
        return f"<Lattice {self.__name__}>"


def lattice(func: Callable[..., Any] | None = None, *, executor: Any = None,
            workflow_executor: Any = None, deps_bash: Any = None, deps_pip: Any = None,
            call_before: Any = None, call_after: Any = None) -> Any:
    """Mark a function as a workflow: ``@lattice`` or ``@lattice(executor="dask", ...)``.

    ``executor`` is the default for its electrons; ``deps_*`` and
    ``call_before``/``call_after`` apply to electrons that have none of their
    own. Returns a :class:`Lattice` (or, without ``func``, a decorator making one).
    """
    options = dict(executor=executor, workflow_executor=workflow_executor, deps_bash=deps_bash,
                   deps_pip=deps_pip, call_before=call_before, call_after=call_after)
    if func is None:
        return functools.partial(Lattice, **options)
    return Lattice(func, **options)


def _replacement_electrons(replace_electrons: dict[str, Any]) -> dict[str, Any]:
    from covalent_nb.workflow.electron import Electron  # electron.py imports this module

    replacements = {}
    for name, replacement in replace_electrons.items():
        if not isinstance(name, str) or not callable(replacement):
            raise TypeError("replace_electrons maps electron names to electrons or functions, "
                            f"not {type(name).__name__} to {type(replacement).__name__}")
        replacements[name] = replacement if isinstance(replacement, Electron) else Electron(replacement)
    return replacements


def _source_of(function: Callable[..., Any]) -> str:
    try:
        return textwrap.dedent(inspect.getsource(function))
    except (OSError, TypeError):
        return ""
