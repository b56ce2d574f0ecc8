"""Find executor classes by short name, through the ``covalent_nb.executors`` entry points.

Built-in executors are declared in covalent-nb's own ``pyproject.toml``;
plugins declare theirs the same way. Lookups are cached per process; a name
that is not in the cache makes one fresh scan of the installed packages, so a
plugin installed while the process runs is still found.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
from typing import Any, Mapping

from covalent_nb._suggest import choices_hint
from covalent_nb.errors import ExecutorError
from covalent_nb.executor.base import _AbstractExecutor

__all__ = ["ENTRY_POINT_GROUP", "executor_class", "executor_from_spec", "known_executors"]

ENTRY_POINT_GROUP = "covalent_nb.executors"


@functools.cache
def _entry_points() -> dict[str, importlib.metadata.EntryPoint]:
    return {ep.name: ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}


def _rescan() -> None:
    """Forget what is cached and look at the installed packages again."""
    importlib.invalidate_caches()
    _entry_points.cache_clear()


def known_executors(refresh: bool = False) -> list[str]:
    """The short names of every installed executor, sorted (``refresh``: rescan the installed packages)."""
    if refresh:
        _rescan()
    return sorted(_entry_points())


@functools.cache
def executor_class(short_name: str) -> type[_AbstractExecutor]:
    """The executor class registered as ``short_name``; ExecutorError if there is none."""
    entry_point = _entry_points().get(short_name)
    if entry_point is None:  # perhaps installed after the cache was filled
        _rescan()
        entry_point = _entry_points().get(short_name)
    if entry_point is None:
        raise ExecutorError(
            f"unknown executor {short_name!r}; {choices_hint(short_name, known_executors(), 'installed executors')}"
            f" (executor plugins register under the entry point group {ENTRY_POINT_GROUP!r})"
        )
    try:
        cls = entry_point.load()
    except Exception as exc:
        raise ExecutorError(
            f"executor {short_name!r} could not be loaded from {entry_point.value!r}: {type(exc).__name__}: {exc}"
        ) from exc
    if not (isinstance(cls, type) and issubclass(cls, _AbstractExecutor)):
        raise ExecutorError(
            f"executor {short_name!r} ({entry_point.value}) is not a subclass of BaseExecutor or AsyncBaseExecutor"
        )
    if cls.short_name != short_name:
        raise ExecutorError(
            f"executor {short_name!r} ({entry_point.value}) declares short_name {cls.short_name!r}; they must match"
        )
    return cls


def executor_from_spec(spec: Mapping[str, Any]) -> _AbstractExecutor:
    """Build an executor from ``{"name": short_name, "attrs": {...}}``, checking every setting."""
    if not isinstance(spec, Mapping) or not isinstance(spec.get("name"), str):
        raise ExecutorError(f"an executor spec is {{'name': short_name, 'attrs': {{...}}}}, not {spec!r}")
    return executor_class(spec["name"]).from_spec(spec)
