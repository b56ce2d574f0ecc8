"""run_task does not run a task whose output the server has recorded (its frame's ``recorded`` note)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

from covalent_nb.executor.dask import RECORDED_METADATA
from covalent_nb.executor.runner import run_task
from tests.conftest import local_dask_client

from .taskframes import read_result, task_frame


def touch_and_return(path: str, value: int) -> int:
    """The task: leaves a file as its side effect."""
    Path(path).write_text("ran")
    return value


def run_with_note(tmp_path: Path, recorded: Any) -> tuple[dict[str, Any], Any, bool]:
    """Run the task with this note; its result header, its output, and whether it ran."""
    marker = tmp_path / "ran"
    marker.unlink(missing_ok=True)
    meta, value = read_result(run_task(task_frame(touch_and_return, str(marker), 7, recorded=recorded)))
    return meta, value, marker.exists()


def test_a_noted_byte_means_recorded_and_the_task_does_not_run(tmp_path: Path) -> None:
    notes = tmp_path / "notes"
    with open(notes, "wb") as f:
        f.seek(5)
        f.write(b"\x01")
    meta, value, ran = run_with_note(tmp_path, {"file": str(notes), "byte": 5})
    assert (meta["status"], value, ran) == ("RECORDED", None, False)
    assert "recorded" in meta["error"]


@pytest.mark.parametrize("byte", [0, 4, 6, 1 << 20])  # a zero byte, or past the end of the file
def test_other_bytes_and_a_missing_file_mean_not_recorded(tmp_path: Path, byte: int) -> None:
    notes = tmp_path / "notes"
    with open(notes, "wb") as f:
        f.seek(5)
        f.write(b"\x01")
    meta, value, ran = run_with_note(tmp_path, {"file": str(notes), "byte": byte})
    assert (meta["status"], value, ran) == ("COMPLETED", 7, True)
    meta, value, ran = run_with_note(tmp_path, {"file": str(tmp_path / "none"), "byte": 5})
    assert (meta["status"], value, ran) == ("COMPLETED", 7, True)


def test_a_malformed_note_fails_the_task_without_running_it(tmp_path: Path) -> None:
    meta, _, ran = run_with_note(tmp_path, ["not", "an", "object"])
    assert (meta["status"], ran) == ("FAILED", False)
    assert "'recorded' is a JSON object" in meta["error"]


def test_a_scheduler_note_outside_a_dask_worker_runs_the_task(tmp_path: Path) -> None:
    meta, value, ran = run_with_note(tmp_path, {"scheduler": [RECORDED_METADATA, "s", "d", 1]})
    assert (meta["status"], value, ran) == ("COMPLETED", 7, True)


@pytest.fixture(scope="module")
def dask_client() -> Iterator[Any]:
    """A real Dask cluster: one worker process."""
    with local_dask_client() as client:
        yield client


def test_a_note_in_the_schedulers_metadata_is_found_by_the_worker(dask_client: Any, tmp_path: Path) -> None:
    noted = [RECORDED_METADATA, "session", "dispatch", 3]
    dask_client.set_metadata(noted, True)
    marker = tmp_path / "ran"
    for keys, status in ((noted, "RECORDED"), ([*noted[:3], 4], "COMPLETED")):
        frame = task_frame(touch_and_return, str(marker), 7, recorded={"scheduler": keys})
        meta, value = read_result(dask_client.submit(run_task, frame, pure=False).result())
        assert meta["status"] == status
        assert marker.exists() == (status == "COMPLETED")
