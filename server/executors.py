"""Server-side executor resolution: short names and specs to running executors.

An executor reaches the server as ``{"name": short_name, "attrs": {...}}``
(JSON, never pickled). The server rebuilds it from its own registry; ``dask``
is driven by the dispatcher itself (see dispatcher.py).
"""

from __future__ import annotations

import asyncio
import inspect
import json
from typing import Any

from .settings import ServerSettings

__all__ = ["ExecutorResolver"]

DEFAULT_SPEC = {"name": "dask", "attrs": {}}


class ExecutorResolver:
    """Turns executor specs into executor objects and runs tasks on them."""

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self._instances: dict[str, Any] = {}

    def is_known(self, name: str) -> bool:
        """True when this server can build an executor called ``name``."""
        if name == "dask":
            return True
        from covalent_nb.errors import ExecutorError
        from covalent_nb.executor import executor_class

        try:
            executor_class(name)
        except ExecutorError:
            return False
        return True

    def resolve(self, spec: dict[str, Any] | None) -> dict[str, Any]:
        """The spec a task runs with (the server's default when none is given)."""
        if not spec:
            return dict(DEFAULT_SPEC)
        return {"name": spec["name"], "attrs": dict(spec.get("attrs") or {})}

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


async def _call(method: Any, *args: Any) -> Any:
    if inspect.iscoroutinefunction(method):
        return await method(*args)
    return await asyncio.get_running_loop().run_in_executor(None, method, *args)
