"""Time limits in the runner itself (no server): the task's process is stopped at the limit."""

from __future__ import annotations

import os
import time
from pathlib import Path

from covalent_nb._frames import unpack
from covalent_nb.executor.runner import run_task

from .taskframes import task_frame


def sleep_and_report(path: str) -> str:
    with open(path, "w") as handle:
        handle.write(str(os.getpid()))
    print("going to sleep", flush=True)
    time.sleep(60)
    return "woke"


def quick(x: int) -> int:
    print("quick ran")
    return x + 1


def test_task_over_its_limit_is_stopped(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    frame = task_frame(sleep_and_report, str(pid_file), time_limit=1.5)
    started = time.monotonic()
    meta, _ = unpack(run_task(frame))
    assert time.monotonic() - started < 30
    assert meta["status"] == "FAILED"
    assert "exceeded its time limit of 1.5 s" in meta["error"]
    assert "going to sleep" in meta["stdout"]
    pid = int(pid_file.read_text())
    try:
        os.kill(pid, 0)
        alive = True
    except ProcessLookupError:
        alive = False
    assert not alive


def test_task_within_its_limit_returns_its_result(tmp_path: Path) -> None:
    meta, blobs = unpack(run_task(task_frame(quick, 41, time_limit=30)))
    assert meta["status"] == "COMPLETED", meta["error"]
    assert "quick ran" in meta["stdout"]
    from covalent_nb._serialize import loads
    assert loads(blobs["output"]) == 42
