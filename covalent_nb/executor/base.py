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

Where settings come from: an argument given to the constructor wins; a setting
left out is taken from the ``[executors.<short_name>]`` section of the config
file of the process that builds the executor (the client's when a user writes
``SlurmExecutor(partition="gpu")``), then from the class default. A setting
declared with the default :data:`REQUIRED` has none: leaving it out of both the
arguments and the config is an error. A fully specified executor therefore
never depends on any config file, and its spec travels unchanged.
"""

from __future__ import annotations

import abc
import copy
import functools
import inspect
import json
from typing import Any, Callable, ClassVar, Final, Mapping

from covalent_nb._suggest import choices_hint
from covalent_nb.errors import ExecutorError

__all__ = ["REQUIRED", "AsyncBaseExecutor", "BaseExecutor", "ExecutorSpec"]

ExecutorSpec = dict[str, Any]
"""``{"name": short_name, "attrs": {...JSON...}}``: an executor as it travels."""


class _Required:
    """The type of :data:`REQUIRED`: one instance, kept through copies and pickles."""

    _instance: "_Required | None" = None

    def __new__(cls) -> "_Required":
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "REQUIRED"

    def __reduce__(self) -> str:
        return "REQUIRED"

    def __copy__(self) -> "_Required":
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> "_Required":
        return self


REQUIRED: Final = _Required()
"""The default of a setting that has none: it must be given, as an argument or in the config."""

_GIVEN = "_covalent_nb_given_settings"  # instance key: the settings the caller named while __init__ runs


class _AbstractExecutor(abc.ABC):
    """What sync and async executors share: declared attributes and specs.

    ``attributes`` maps each setting to ``(allowed types, default)``; the
    constructor takes exactly these as keyword arguments and checks their types.
    A setting left out comes from the ``[executors.<short_name>]`` config
    section, else the default (:data:`REQUIRED`: no default, it must be given).

    A subclass may define its own ``__init__`` with a signature (defaults
    included) and pass every setting on to ``super().__init__``: the settings
    its caller did not name are still filled from the config.
    """

    short_name: ClassVar[str] = ""
    attributes: ClassVar[dict[str, tuple[type | tuple[type, ...], Any]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is not None and not getattr(init, "_records_given_settings", False):
            cls.__init__ = _recording_given_settings(init)  # type: ignore[method-assign]

    def __init__(self, **attrs: Any) -> None:
        unknown = sorted(set(attrs) - set(self.attributes))
        if unknown:
            raise self._no_setting(unknown[0])
        given = self.__dict__.get(_GIVEN)
        named = set(attrs) if given is None else given & set(attrs)
        omitted = [name for name in self.attributes if name not in named]
        section, where = self.config_settings() if omitted else ({}, "")
        for name, (_, default) in self.attributes.items():
            source = ""
            if name in named:
                value = attrs[name]
            elif name in section:
                value, source = copy.deepcopy(section[name]), f" (set in {where})"
            elif name in attrs and attrs[name] is not REQUIRED:
                value = attrs[name]  # the subclass signature's own default
            elif default is not REQUIRED:
                value = copy.deepcopy(default)
            else:
                raise ExecutorError(self._missing_message(name, where))
            self.check_setting(name, value, source)
            setattr(self, name, value)

    @classmethod
    def check_setting(cls, name: str, value: Any, source: str = "") -> None:
        """Raise ExecutorError naming this executor and the setting when ``value`` does not fit it.

        ``source`` says where the value came from, e.g. ``" (set in [executors.x] of ...)"``.
        """
        if name not in cls.attributes:
            raise cls._no_setting(name, source)
        _check_type(cls._label(), name, value, cls.attributes[name][0], source)

    @classmethod
    def config_settings(cls) -> tuple[dict[str, Any], str]:
        """``(settings, where)``: this executor's ``[executors.<short_name>]`` section of this process's config.

        ``where`` names the section and file for messages. Raises ExecutorError
        when the section sets something the executor does not have.
        """
        from covalent_nb import _config

        where = f"[executors.{cls.short_name}] of the config file {_config.config_path()}"
        section = (_config.get_config("executors") or {}).get(cls.short_name) or {}
        if not isinstance(section, dict):
            raise ExecutorError(f"{where} must be a section of settings, not {section!r}")
        for name in sorted(set(section) - set(cls.attributes)):
            cls.check_setting(name, section[name], f" (set in {where})")
        return section, where

    @classmethod
    def _missing_message(cls, name: str, where: str) -> str:
        types = cls.attributes[name][0]
        return (f"{cls._label()} needs setting {name!r} ({_type_names(types)}), which has no default: "
                f"pass it, e.g. {cls.__name__}({name}=...), or set it in {where}")

    @classmethod
    def _no_setting(cls, name: str, source: str = "") -> ExecutorError:
        """The error for a setting this executor does not have: its settings, and the close one."""
        return ExecutorError(f"{cls._label()} has no setting {name!r}{source}; "
                             + choices_hint(name, sorted(cls.attributes), "its settings are"))

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
            raise cls._no_setting(unknown[0])
        return cls(**attrs)

    def __repr__(self) -> str:
        settings = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.attributes)
        return f"{type(self).__name__}({settings})"

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in self.attributes)

    __hash__ = None  # type: ignore[assignment]  # settings are mutable


def _recording_given_settings(init: Callable[..., None]) -> Callable[..., None]:
    """Wrap a subclass ``__init__`` so the base knows which settings its caller named."""
    signature = inspect.signature(init)

    @functools.wraps(init)
    def recording_init(self: Any, *args: Any, **kwargs: Any) -> None:
        if _GIVEN in self.__dict__:  # an outer __init__ already recorded the caller's settings
            init(self, *args, **kwargs)
            return
        try:
            bound = signature.bind(self, *args, **kwargs)
        except TypeError:  # let the real __init__ report the wrong call
            init(self, *args, **kwargs)
            return
        given: set[str] = set()
        for index, (name, value) in enumerate(bound.arguments.items()):
            kind = signature.parameters[name].kind
            if kind is inspect.Parameter.VAR_KEYWORD:
                given.update(value)
            elif index > 0 and kind is not inspect.Parameter.VAR_POSITIONAL:
                given.add(name)
        self.__dict__[_GIVEN] = given
        try:
            init(self, *args, **kwargs)
        finally:
            self.__dict__.pop(_GIVEN, None)

    recording_init._records_given_settings = True  # type: ignore[attr-defined]
    return recording_init


def _type_names(types: type | tuple[type, ...]) -> str:
    allowed = types if isinstance(types, tuple) else (types,)
    return " or ".join("None" if t is type(None) else t.__name__ for t in allowed)


def _check_type(label: str, name: str, value: Any, types: type | tuple[type, ...], source: str = "") -> None:
    allowed = types if isinstance(types, tuple) else (types,)
    wrong_bool = isinstance(value, bool) and bool not in allowed and int in allowed
    if wrong_bool or not isinstance(value, allowed):
        raise ExecutorError(f"{label}: setting {name!r}{source} must be {_type_names(types)}, "
                            f"not {type(value).__name__} ({value!r})")


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


TaskKey = tuple[str, Any]
"""``(dispatch_id, node_id)``: which task an executor call is about."""


def task_key(task_metadata: Mapping[str, Any], task_frame: bytes | None = None) -> TaskKey:
    """``(dispatch_id, node_id)`` from the metadata, else from the task frame's header."""
    dispatch_id = task_metadata.get("dispatch_id")
    node_id = task_metadata.get("node_id")
    if (dispatch_id is None or node_id is None) and task_frame is not None:
        from covalent_nb._frames import unpack_meta

        meta = unpack_meta(task_frame)
        dispatch_id = meta.get("dispatch_id") if dispatch_id is None else dispatch_id
        node_id = meta.get("node_id") if node_id is None else node_id
    return str(dispatch_id), node_id


def failed_frame(error: str, start: float, stdout: str = "", stderr: str = "",
                 traceback: str | None = None) -> bytes:
    """A FAILED result frame for a failure outside the task (a process that died, a time-out,
    a remote service's error): what an executor returns when the runner could not report."""
    import time

    from covalent_nb._frames import pack

    return pack({"status": "FAILED", "output": None, "output_key": None, "output_size": None,
                 "error": error, "traceback": traceback, "stdout": stdout, "stderr": stderr,
                 "start_time": start, "end_time": time.time()})
