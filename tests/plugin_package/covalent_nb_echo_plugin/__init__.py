"""A covalent-nb executor plugin for the tests: runs each task in the dispatcher's process.

``EchoExecutor`` runs the task frame through the standard runner and appends
``"ran by echo plugin"`` (plus its ``tag``) to the task's stdout; when
``calls_file`` is set it appends one line per ``setup`` and ``teardown`` call
to that file, so a test can count them.
"""

from __future__ import annotations

from typing import Any, ClassVar

from covalent_nb._frames import pack, unpack
from covalent_nb.executor.base import BaseExecutor

__all__ = ["MARKER", "EchoExecutor"]

MARKER = "ran by echo plugin"


class EchoExecutor(BaseExecutor):
    """Run the task in-process through ``run_task`` and mark its stdout."""

    short_name: ClassVar[str] = "echo"
    attributes: ClassVar[dict[str, tuple[Any, Any]]] = {
        "calls_file": ((str, type(None)), None),
        "tag": (str, ""),
    }

    def setup(self, task_metadata: dict[str, Any]) -> None:
        """Count the call in ``calls_file``."""
        self._count("setup", task_metadata)

    def run(self, task_frame: bytes, parent_frames: list[bytes], task_metadata: dict[str, Any]) -> bytes:
        """The runner's result frame with the marker line added to its stdout."""
        from covalent_nb.executor.runner import run_task

        meta, blobs = unpack(run_task(task_frame, *parent_frames))
        marker = f"{MARKER} ({self.tag})" if self.tag else MARKER
        meta["stdout"] = (meta.get("stdout") or "") + marker + "\n"
        return pack(meta, {name: bytes(data) for name, data in blobs.items()})

    def teardown(self, task_metadata: dict[str, Any]) -> None:
        """Count the call in ``calls_file``."""
        self._count("teardown", task_metadata)

    def _count(self, call: str, task_metadata: dict[str, Any]) -> None:
        if self.calls_file:
            with open(self.calls_file, "a", encoding="utf-8") as calls:
                calls.write(f"{call} {task_metadata.get('node_id')}\n")
