"""The executor seam: what every executor, built in or plugged in, implements.

An executor has two halves. The half defined here lives in the dispatcher
service: it receives a task frame plus its parents' result frames (opaque
bytes, see ``docs/internals.md``) and returns the task's result frame. The
other half runs wherever the task runs and is always
:func:`covalent_nb.executor.runner.run_task`.

Writing an executor plugin::

    class SlurmExecutor(AsyncBaseExecutor):
        \"\"\"Runs each task as a Slurm job.\"\"\"

        short_name = "slurm"
        attributes = {"partition": (str, "batch"), "time_limit": ((int, type(None)), None)}

        async def run(self, task_frame, parent_frames, task_metadata):
            ...  # ship the frames, run `python -m covalent_nb.executor.runner`, return the result frame

and register it in the plugin's ``pyproject.toml``::

    [project.entry-points."covalent_nb.executors"]
    slurm = "my_plugin:SlurmExecutor"

Executors travel as specs (``{"name": short_name, "attrs": {...}}``, JSON),
never pickled, so every attribute value must be JSON-serializable.
``task_metadata`` holds at least ``dispatch_id`` and ``node_id``.
"""

from __future__ import annotations

import abc
import copy
import json
from typing import Any, ClassVar, Mapping

from covalent_nb.errors import ExecutorError

__all__ = ["AsyncBaseExecutor", "BaseExecutor", "ExecutorSpec"]

ExecutorSpec = dict[str, Any]
"""``{"name": short_name, "attrs": {...JSON...}}``: an executor as it travels."""


class _AbstractExecutor(abc.ABC):
    """What sync and async executors share: declared attributes and specs.

    ``attributes`` maps each setting to ``(allowed types, default)``; the
    constructor takes exactly these as keyword arguments and checks their types.
    """

    short_name: ClassVar[str] = ""
    attributes: ClassVar[dict[str, tuple[type | tuple[type, ...], Any]]] = {}

    def __init__(self, **attrs: Any) -> None:
        unknown = sorted(set(attrs) - set(self.attributes))
        if unknown:
            raise ExecutorError(
                f"{self._label()} has no setting {unknown[0]!r}; "
                f"its settings are: {', '.join(sorted(self.attributes)) or '(none)'}"
            )
        for name, (types, default) in self.attributes.items():
            value = attrs[name] if name in attrs else copy.deepcopy(default)
            _check_type(self._label(), name, value, types)
            setattr(self, name, value)

    @classmethod
    def _label(cls) -> str:
        return f"executor {cls.short_name or cls.__name__!r}"

    def to_spec(self) -> ExecutorSpec:
        """``{"name": short_name, "attrs": {...}}``; raises ExecutorError on a non-JSON value."""
        attrs = {}
        for name in self.attributes:
            value = getattr(self, name)
            try:
                json.dumps(value)
            except (TypeError, ValueError) as exc:
                raise ExecutorError(
                    f"{self._label()}: setting {name!r} = {value!r} cannot travel as JSON ({exc}); "
                    "use strings, numbers, booleans, lists or dicts"
                ) from None
            attrs[name] = value
        return {"name": self.short_name, "attrs": attrs}

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> "_AbstractExecutor":
        """Build an executor of this class from its spec (the inverse of :meth:`to_spec`)."""
        name = spec.get("name")
        if name != cls.short_name:
            raise ExecutorError(f"spec names executor {name!r}, not {cls.short_name!r}")
        attrs = spec.get("attrs") or {}
        if not isinstance(attrs, Mapping):
            raise ExecutorError(f"{cls._label()}: spec 'attrs' must be an object, not {type(attrs).__name__}")
        unknown = sorted(set(attrs) - set(cls.attributes))
        if unknown:
            raise ExecutorError(
                f"{cls._label()} has no setting {unknown[0]!r}; "
                f"its settings are: {', '.join(sorted(cls.attributes)) or '(none)'}"
            )
        return cls(**attrs)

    def __repr__(self) -> str:
        settings = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.attributes)
        return f"{type(self).__name__}({settings})"

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in self.attributes)

    __hash__ = None  # type: ignore[assignment]  # settings are mutable


def _check_type(label: str, name: str, value: Any, types: type | tuple[type, ...]) -> None:
    allowed = types if isinstance(types, tuple) else (types,)
    wrong_bool = isinstance(value, bool) and bool not in allowed and int in allowed
    if wrong_bool or not isinstance(value, allowed):
        names = " or ".join("None" if t is type(None) else t.__name__ for t in allowed)
        raise ExecutorError(f"{label}: setting {name!r} must be {names}, not {type(value).__name__} ({value!r})")


class BaseExecutor(_AbstractExecutor):
    """A synchronous executor; the dispatcher calls it from a thread."""

    def setup(self, task_metadata: dict[str, Any]) -> None:
        """Prepare to run one task (default: nothing)."""

    @abc.abstractmethod
    def run(self, task_frame: bytes, parent_frames: list[bytes], task_metadata: dict[str, Any]) -> bytes:
        """Run the task and return its result frame; a task failure is a FAILED frame, not an exception."""

    def cancel(self, task_metadata: dict[str, Any]) -> bool:
        """Stop the task if it runs; True if it was stopped (default: cannot cancel)."""
        return False

    def teardown(self, task_metadata: dict[str, Any]) -> None:
        """Release what :meth:`setup` took (default: nothing)."""


class AsyncBaseExecutor(_AbstractExecutor):
    """An asyncio executor; the dispatcher awaits it on its event loop."""

    async def setup(self, task_metadata: dict[str, Any]) -> None:
        """Prepare to run one task (default: nothing)."""

    @abc.abstractmethod
    async def run(self, task_frame: bytes, parent_frames: list[bytes], task_metadata: dict[str, Any]) -> bytes:
        """Run the task and return its result frame; a task failure is a FAILED frame, not an exception."""

    async def cancel(self, task_metadata: dict[str, Any]) -> bool:
        """Stop the task if it runs; True if it was stopped (default: cannot cancel)."""
        return False

    async def teardown(self, task_metadata: dict[str, Any]) -> None:
        """Release what :meth:`setup` took (default: nothing)."""
