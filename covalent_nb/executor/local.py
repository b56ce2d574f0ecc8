"""The local executor: each task in its own Python process on the dispatcher's machine.

Meant for debugging and for tasks that must not share a process. The frames
go through temporary files to ``python -m covalent_nb.executor.runner``; the
process runs in its own session so that :meth:`LocalExecutor.cancel` can kill
it together with anything it started.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import tempfile
import time
from contextlib import suppress
from typing import Any, ClassVar

from covalent_nb._frames import pack, unpack
from covalent_nb.executor.base import AsyncBaseExecutor, TaskKey, failed_frame, task_key

__all__ = ["LocalExecutor"]

_RUNNER_MODULE = "covalent_nb.executor.runner"
_STDERR_TAIL = 2000


class LocalExecutor(AsyncBaseExecutor):
    """Run each task in a separate local process.

    ``workdir`` is the task's working directory (default: the dispatcher's);
    with ``create_unique_workdir`` each task gets ``<workdir>/<dispatch_id>/node_<id>``
    (``workdir`` defaulting to a ``covalent_nb-workdir`` folder in the temp dir).
    """

    short_name: ClassVar[str] = "local"
    attributes: ClassVar[dict[str, tuple[Any, Any]]] = {
        "workdir": ((str, type(None)), None),
        "create_unique_workdir": (bool, False),
    }
    workdir: str | None
    create_unique_workdir: bool

    def __init__(self, workdir: str | None = None, create_unique_workdir: bool = False) -> None:
        super().__init__(workdir=workdir, create_unique_workdir=create_unique_workdir)
        self._processes: dict[TaskKey, asyncio.subprocess.Process] = {}
        self._cancelled: set[TaskKey] = set()

    async def run(self, task_frame: bytes, parent_frames: list[bytes], task_metadata: dict[str, Any]) -> bytes:
        """Run the task in a new ``python -m covalent_nb.executor.runner`` process."""
        key = task_key(task_metadata, task_frame)
        start = time.time()
        with tempfile.TemporaryDirectory(prefix="covalent_nb-local-") as frames_dir:
            paths = [os.path.join(frames_dir, "task")] + [
                os.path.join(frames_dir, f"parent_{i}") for i in range(len(parent_frames))]
            for path, frame in zip(paths, [task_frame, *parent_frames]):
                with open(path, "wb") as f:
                    f.write(frame)
            result_path = os.path.join(frames_dir, "result")
            try:
                proc = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", _RUNNER_MODULE, paths[0], result_path, *paths[1:],
                    cwd=self.task_workdir(*key), stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, start_new_session=True)
            except OSError as exc:
                return failed_frame(f"the local executor could not start the task's process: {exc}", start)
            self._processes[key] = proc
            try:
                stdout, stderr = await proc.communicate()
            finally:
                if proc.returncode is None:  # this coroutine was cancelled: do not leave the process behind
                    _kill_session(proc)
                if self._processes.get(key) is proc:
                    del self._processes[key]
            cancelled = key in self._cancelled
            self._cancelled.discard(key)
            if proc.returncode == 0 and os.path.exists(result_path):
                with open(result_path, "rb") as f:
                    return _with_process_output(f.read(), stdout, stderr)
        return _process_failure_frame(proc.returncode, stdout, stderr, start, cancelled)

    async def cancel(self, task_metadata: dict[str, Any]) -> bool:
        """Kill the task's process (and what it started); False if it is not running."""
        key = task_key(task_metadata, None)
        proc = self._processes.get(key)
        if proc is None or proc.returncode is not None:
            return False
        self._cancelled.add(key)
        _kill_session(proc)
        return True

    def task_workdir(self, dispatch_id: str, node_id: Any) -> str | None:
        """The working directory of one task (created if needed); None means the dispatcher's."""
        workdir = os.path.expanduser(self.workdir) if self.workdir else None
        if self.create_unique_workdir:
            base = workdir or os.path.join(tempfile.gettempdir(), "covalent_nb-workdir")
            workdir = os.path.join(base, str(dispatch_id), f"node_{node_id}")
        if workdir:
            os.makedirs(workdir, exist_ok=True)
        return workdir


def _kill_session(proc: asyncio.subprocess.Process) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _with_process_output(result: bytes, stdout: bytes, stderr: bytes) -> bytes:
    """Add what the process wrote outside the runner's capture (C code, child processes)."""
    if not stdout and not stderr:
        return result
    meta, blobs = unpack(result)
    meta["stdout"] = (meta.get("stdout") or "") + stdout.decode(errors="replace")
    meta["stderr"] = (meta.get("stderr") or "") + stderr.decode(errors="replace")
    return pack(meta, blobs)


def _process_failure_frame(returncode: int | None, stdout: bytes, stderr: bytes,
                           start: float, cancelled: bool) -> bytes:
    err_text = stderr.decode(errors="replace")
    if cancelled:
        error = "the task was cancelled: its local process was killed"
    else:
        how = f"exited with code {returncode}"
        if returncode is not None and returncode < 0:
            with suppress(ValueError):
                how += f" (killed by {signal.Signals(-returncode).name})"
        tail = err_text[-_STDERR_TAIL:].strip()
        error = f"the local runner process {how} without writing a result"
        error += f"; its stderr ended with:\n{tail}" if tail else " and wrote nothing to stderr"
    return failed_frame(error, start, stdout.decode(errors="replace"), err_text)
