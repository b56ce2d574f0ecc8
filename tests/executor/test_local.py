"""LocalExecutor: each task in a real runner subprocess."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

from covalent_nb.executor.local import LocalExecutor

from .taskframes import Parent, read_result, result_frame, task_frame


def run(executor: LocalExecutor, frame: bytes, parents: list[bytes] | None = None,
        metadata: dict[str, Any] | None = None) -> tuple[dict[str, Any], Any]:
    metadata = metadata or {"dispatch_id": "dispatch-1", "node_id": 0}
    return read_result(asyncio.run(executor.run(frame, parents or [], metadata)))


def write_raw_and_print() -> str:
    print("through sys.stdout")
    os.write(1, b"straight to fd 1\n")
    return "done"


def die_with_words() -> None:
    os.write(2, b"dying words\n")
    os._exit(3)


def mark_then_sleep(marker: str, seconds: float) -> str:
    Path(marker).write_text("started")
    time.sleep(seconds)
    return "woke up"


def test_runs_a_task_with_parents_in_a_subprocess() -> None:
    frame = task_frame(lambda a, b: (a + b, os.getpid()), Parent(0), Parent(1))
    meta, value = run(LocalExecutor(), frame, [result_frame(40), result_frame(2)])
    assert meta["status"] == "COMPLETED"
    assert value[0] == 42
    assert value[1] != os.getpid()


def test_output_outside_the_capture_is_kept_too() -> None:
    meta, value = run(LocalExecutor(), task_frame(write_raw_and_print))
    assert value == "done"
    assert "through sys.stdout\n" in meta["stdout"]
    assert "straight to fd 1\n" in meta["stdout"]


def test_task_failure_comes_back_as_a_failed_frame() -> None:
    meta, _ = run(LocalExecutor(), task_frame(lambda: 1 / 0))
    assert meta["status"] == "FAILED"
    assert meta["error"] == "ZeroDivisionError: division by zero"


def test_a_process_that_dies_gives_its_exit_code_and_stderr() -> None:
    meta, _ = run(LocalExecutor(), task_frame(die_with_words))
    assert meta["status"] == "FAILED"
    assert "exited with code 3" in meta["error"]
    assert "dying words" in meta["error"]
    assert meta["stderr"] == "dying words\n"


def test_task_runs_in_the_workdir(tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    meta, value = run(LocalExecutor(workdir=str(workdir)), task_frame(os.getcwd))
    assert meta["status"] == "COMPLETED"
    assert os.path.realpath(value) == os.path.realpath(workdir)


def test_unique_workdir_per_dispatch_and_node(tmp_path: Path) -> None:
    executor = LocalExecutor(workdir=str(tmp_path), create_unique_workdir=True)
    _, value = run(executor, task_frame(os.getcwd), metadata={"dispatch_id": "d-7", "node_id": 5})
    assert os.path.realpath(value) == os.path.realpath(tmp_path / "d-7" / "node_5")


def test_cancel_kills_a_running_task(tmp_path: Path) -> None:
    marker = tmp_path / "started"
    metadata = {"dispatch_id": "d-cancel", "node_id": 4}

    async def scenario() -> tuple[bytes, float, bool, bool]:
        executor = LocalExecutor()
        running = asyncio.create_task(
            executor.run(task_frame(mark_then_sleep, str(marker), 120), [], metadata))
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert not running.done() and time.monotonic() < deadline
            await asyncio.sleep(0.02)
        stopped_at = time.monotonic()
        cancelled = await executor.cancel(metadata)
        frame = await asyncio.wait_for(running, 20)
        return frame, time.monotonic() - stopped_at, cancelled, await executor.cancel(metadata)

    frame, seconds, cancelled, cancelled_again = asyncio.run(scenario())
    meta, _ = read_result(frame)
    assert cancelled is True and cancelled_again is False
    assert seconds < 10
    assert meta["status"] == "FAILED"
    assert "cancelled" in meta["error"]


def test_cancel_of_an_unknown_task_is_false() -> None:
    assert asyncio.run(LocalExecutor().cancel({"dispatch_id": "nope", "node_id": 1})) is False


def test_a_workdir_that_cannot_be_made_is_a_failed_frame(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    meta, _ = run(LocalExecutor(workdir=str(blocker / "sub")), task_frame(os.getcwd))
    assert meta["status"] == "FAILED"
    assert "could not start the task's process" in meta["error"]
