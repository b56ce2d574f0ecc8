"""Time limits for tasks: the task runs in a child process that is stopped when time is up.

A thread cannot be stopped from outside, so a task with a ``time_limit``
runs in its own process (``python -m covalent_nb.executor.runner``, in a
session of its own so that whatever it started goes too). This works the same
on a Dask worker, in a LocalExecutor process or inside an AWS job.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from covalent_nb.executor.base import failed_frame

__all__ = ["IN_CHILD_ENV", "run_with_time_limit", "time_limit_failure"]

IN_CHILD_ENV = "COVALENT_NB_TIME_LIMITED_CHILD"
"""Set in the child process: the limit is already being enforced by its parent."""


def time_limit_failure(limit: float, start: float, stdout: str = "", stderr: str = "") -> bytes:
    """A FAILED result frame saying the task ran out of time and was stopped."""
    return failed_frame(f"TimeoutError: the task exceeded its time limit of {limit:g} s "
                        "and its process was stopped", start, stdout, stderr)


def _tail(path: Path, limit: int = 20000) -> str:
    try:
        data = path.read_bytes()
    except OSError:
        return ""
    return data[-limit:].decode(errors="replace")


def _stop(proc: subprocess.Popen) -> None:
    """Kill the task's process and all it started (its own session)."""
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def run_with_time_limit(task_frame: bytes, parent_frames: tuple[bytes, ...], limit: float) -> bytes:
    """Run the task in a child process; stop its process group after ``limit`` seconds or when cancelled."""
    start = time.time()
    with tempfile.TemporaryDirectory(prefix="covalent_nb_task_") as tmp:
        folder = Path(tmp)
        paths = []
        for index, frame in enumerate((task_frame, *parent_frames)):
            path = folder / f"frame{index}"
            path.write_bytes(frame)
            paths.append(str(path))
        result_path = folder / "result"
        out_path, err_path = folder / "stdout", folder / "stderr"
        env = dict(os.environ, **{IN_CHILD_ENV: "1"})
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "covalent_nb.executor.runner", paths[0], str(result_path), *paths[1:]],
                stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env, start_new_session=True)
            try:
                proc.wait(timeout=limit)
            except subprocess.TimeoutExpired:
                _stop(proc)
                return time_limit_failure(limit, start, _tail(out_path), _tail(err_path))
            except BaseException:  # the task was cancelled (TaskCancelled), or its worker is stopping
                _stop(proc)
                raise
        if result_path.exists():
            return result_path.read_bytes()
        return failed_frame(f"the task process exited with code {proc.returncode} without a result",
                            start, _tail(out_path), _tail(err_path))
