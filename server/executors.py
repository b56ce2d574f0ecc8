"""Server-side executor resolution: short names and specs to running executors.

An executor reaches the server as ``{"name": short_name, "attrs": {...}}``
(JSON, never pickled). :meth:`ExecutorResolver.resolve` completes it just in
time: a setting the spec leaves out comes from the server's own config section
``[executors.<name>]``, else the executor's default; the result is checked by
building the executor, so a dispatch naming a misconfigured executor is
refused before it runs. A name the server offers no executor for is left as
it came: the dispatcher fails that task when it would start, with
:meth:`ExecutorResolver.unknown_message`. A client that sends a fully specified executor leaves
nothing to fill: the server's config cannot change it. ``dask`` is driven by
the dispatcher itself (see dispatcher.py); the server's config does not fill
it (``[dask] scheduler_address`` picks the default cluster instead).

:meth:`ExecutorResolver.describe` is what ``GET api/v1/executors`` shows:
the configuration is read-only through the API, and secrets are masked.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import json
from collections.abc import Iterable
from typing import Any

from covalent_nb._suggest import choices_hint

from .settings import ServerSettings

__all__ = ["DEFAULT_EXECUTOR", "SECRET_WORDS", "ExecutorResolver", "is_secret", "mask_secrets"]

DEFAULT_EXECUTOR = "dask"
DEFAULT_SPEC = {"name": DEFAULT_EXECUTOR, "attrs": {}}
SECRET_WORDS = ("secret", "password", "token", "key", "credential")
"""A setting whose name contains one of these is shown as ``"***"``."""
MASK = "***"


class ExecutorResolver:
    """Turns executor specs into executor objects and runs tasks on them."""

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self._instances: dict[str, Any] = {}
        self._resolved: dict[str, dict[str, Any]] = {}
        self._installed: set[str] | None = None

    def _installed_names(self, refresh: bool = False) -> set[str]:
        if self._installed is None or refresh:
            from covalent_nb.executor.registry import known_executors

            installed = set(known_executors(refresh=refresh)) | {DEFAULT_EXECUTOR}
            if installed != self._installed:
                self._resolved.clear()  # a spec kept as given may name an executor installed now
            self._installed = installed
        return self._installed

    def unknown_names(self, names: Iterable[str]) -> set[str]:
        """Those of ``names`` this server offers no executor for.

        A name missing from what the server last saw installed makes one fresh
        scan of the installed packages, so a plugin installed while the server
        runs is found by the next dispatch that names it.
        """
        missing = set(names) - self._installed_names()
        if missing:
            missing -= self._installed_names(refresh=True)
        return missing

    def is_known(self, name: str) -> bool:
        """True when this server offers an executor called ``name`` (installed, or the default)."""
        return not self.unknown_names([name])

    def offers(self, name: str) -> bool:
        """Like :meth:`is_known`, from what the server last saw installed (no new scan)."""
        return name in self._installed_names()

    def offered(self) -> list[str]:
        """The short names of the executors this server offers: the default first, then by name."""
        return [DEFAULT_EXECUTOR] + sorted(self._installed_names() - {DEFAULT_EXECUTOR})

    def unknown_message(self, name: str, tasks: list[tuple[str, int]]) -> str:
        """What to say about executor ``name``, which this server does not offer, named by ``tasks``.

        ``tasks`` are ``(task name, node id)``; the message names the tasks, what
        the server offers and a close name when there is one, e.g. ``unknown
        executor 'dask_typo' on task 'square' (node 1); this server offers:
        dask, local; did you mean 'dask'?``
        """
        shown = ", ".join(f"{task!r} (node {node_id})" for task, node_id in tasks[:5])
        if len(tasks) > 5:
            shown += f" and {len(tasks) - 5} more"
        message = (f"unknown executor {name!r} on task{'s' if len(tasks) > 1 else ''} {shown}; "
                   + choices_hint(name, self.offered(), "this server offers"))
        if name in self.settings.executors:
            message += (f" (the server's config has an [executors.{name}] section, but no executor {name!r} "
                        "is installed where the server runs: install its package there)")
        return message

    def resolve(self, spec: dict[str, Any] | None) -> dict[str, Any]:
        """The complete spec a task runs with (the server's default when none is given).

        Settings missing from ``spec`` come from the server's ``[executors.<name>]``
        config section, then the executor's defaults. Raises ExecutorError naming
        the executor and the setting when the result is not a valid executor.
        A spec naming an executor this server does not offer (see :meth:`is_known`)
        comes back as it was given: nothing can be checked or filled.
        """
        if not spec:
            return copy.deepcopy(DEFAULT_SPEC)
        key = json.dumps(spec, sort_keys=True, default=repr)
        resolved = self._resolved.get(key)
        if resolved is None:
            if isinstance(spec, dict) and isinstance(spec.get("name"), str) and not self.is_known(spec["name"]):
                resolved = {"name": spec["name"], "attrs": copy.deepcopy(spec.get("attrs") or {})}
            else:
                resolved = self._complete(spec)
            self._resolved[key] = resolved
        return copy.deepcopy(resolved)

    def _complete(self, spec: dict[str, Any]) -> dict[str, Any]:
        from covalent_nb.errors import ExecutorError
        from covalent_nb.executor import executor_class
        from covalent_nb.executor.base import REQUIRED

        name, attrs = spec.get("name"), spec.get("attrs") or {}
        if not isinstance(name, str) or not isinstance(attrs, dict):
            raise ExecutorError(f"an executor spec is {{'name': short_name, 'attrs': {{...}}}}, not {spec!r}")
        cls = executor_class(name)
        if name == DEFAULT_EXECUTOR:
            filled = {setting: default for setting, (_, default) in cls.attributes.items()}
            filled.update(attrs)
        else:
            where = f"the [executors.{name}] section of the server's config file"
            section = self.settings.executors.get(name) or {}
            if not isinstance(section, dict):
                raise ExecutorError(f"{where} must be a section of settings, not {section!r}")
            for setting in sorted(set(section) - set(attrs)):
                cls.check_setting(setting, section[setting], f" (set in {where})")
            filled = {**section, **attrs}
            for setting, (_, default) in cls.attributes.items():
                if setting in filled:
                    continue
                if default is REQUIRED:
                    raise ExecutorError(
                        f"executor {name!r} needs setting {setting!r}, which has no default: give it in the "
                        f"electron's executor, e.g. {cls.__name__}({setting}=...), or have it set in {where}")
                filled[setting] = copy.deepcopy(default)
        return cls.from_spec({"name": name, "attrs": filled}).to_spec()

    def describe(self) -> dict[str, Any]:
        """The default executor and every executor this server offers, with their settings (secrets masked).

        ``{"default": "dask", "executors": [{"name", "settings", "installed", ...}]}``:
        ``dask`` first, then every installed executor and every executor the
        server's config has a section for, by name.
        """
        from covalent_nb.executor.registry import known_executors

        names = sorted((set(known_executors(refresh=True)) | set(self.settings.executors)) - {DEFAULT_EXECUTOR})
        return {"default": DEFAULT_EXECUTOR,
                "executors": [self._describe_dask()] + [self._describe(name) for name in names]}

    def _describe_dask(self) -> dict[str, Any]:
        if self.settings.scheduler_address:
            cluster: dict[str, Any] = {"scheduler_address": self.settings.scheduler_address}
        elif self.settings.cluster:
            cluster = {"scheduler_address": "local cluster", "workers": self.settings.worker_count}
        else:
            cluster = {"scheduler_address": "none (the server runs without a local cluster)"}
        return {"name": DEFAULT_EXECUTOR, "installed": True, "settings": cluster}

    def _describe(self, name: str) -> dict[str, Any]:
        from covalent_nb.errors import ExecutorError
        from covalent_nb.executor import executor_class
        from covalent_nb.executor.base import REQUIRED

        section = self.settings.executors.get(name)
        configured = dict(section) if isinstance(section, dict) else {}
        entry: dict[str, Any] = {"name": name, "configured": section is not None}
        try:
            cls = executor_class(name)
        except ExecutorError as exc:
            entry.update(installed=False, settings=mask_secrets(configured), error=str(exc))
            return entry
        settings = {s: default for s, (_, default) in cls.attributes.items()}
        settings.update(configured)
        missing = sorted(s for s, value in settings.items() if value is REQUIRED)
        settings = {s: (None if value is REQUIRED else value) for s, value in settings.items()}
        entry.update(installed=True, settings=mask_secrets(settings),
                     executor_class=f"{cls.__module__}.{cls.__qualname__}")
        if missing:
            entry["missing"] = missing
        return entry

    def instance(self, spec: dict[str, Any]) -> Any:
        """The executor object for ``spec`` (one per distinct spec)."""
        key = json.dumps(spec, sort_keys=True)
        executor = self._instances.get(key)
        if executor is None:
            from covalent_nb.executor import executor_from_spec

            executor = executor_from_spec(spec)
            self._instances[key] = executor
        return executor

    async def run(self, spec: dict[str, Any], frame: bytes, metadata: dict[str, Any]) -> bytes:
        """Run one task frame on the executor; returns its result frame."""
        executor = self.instance(spec)
        await _call(executor.setup, metadata)
        try:
            return await _call(executor.run, frame, [], metadata)
        finally:
            await _call(executor.teardown, metadata)

    async def cancel(self, spec: dict[str, Any], metadata: dict[str, Any]) -> None:
        """Ask the executor to stop a task."""
        await _call(self.instance(spec).cancel, metadata)


def is_secret(setting: str) -> bool:
    """True when a setting's name says it holds a secret (see :data:`SECRET_WORDS`)."""
    lowered = setting.lower()
    return any(word in lowered for word in SECRET_WORDS)


def mask_secrets(settings: dict[str, Any]) -> dict[str, Any]:
    """``settings`` with every secret's value (nested ones too) replaced by ``"***"``.

    A secret that is not set (None or "") stays as it is: that it is missing is no secret.
    """
    masked: dict[str, Any] = {}
    for setting, value in settings.items():
        if is_secret(str(setting)) and value not in (None, ""):
            masked[setting] = MASK
        elif isinstance(value, dict):
            masked[setting] = mask_secrets(value)
        else:
            masked[setting] = value
    return masked


async def _call(method: Any, *args: Any) -> Any:
    if inspect.iscoroutinefunction(method):
        return await method(*args)
    return await asyncio.get_running_loop().run_in_executor(None, method, *args)
