"""run_task: frames in, result frame out; directly, from the command line and on real Dask workers."""

from __future__ import annotations

import base64
import json
import operator
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from covalent_nb._frames import pack, unpack
from covalent_nb._serialize import blob_key, dumps, loads
from covalent_nb.executor.runner import run_task
from covalent_nb.workflow.deps import DepsCall, TaskHooks
from tests.conftest import local_dask_client

from .taskframes import File, Parent, read_result, result_frame, task_frame


def add(a: int, b: int = 0) -> int:
    return a + b


def divide_noisily(a: int, b: int) -> float:
    print("dividing", a, "by", b)
    print("about to fail", file=sys.stderr)
    return a / b


def append_line(path: str, text: str) -> str:
    with open(path, "a") as f:
        f.write(text + "\n")
    return text


def log_task(path: str, **kwargs: Any) -> dict[str, Any]:
    append_line(path, "task")
    return kwargs


class PairTemplate:
    """A stand-in for CollectionTemplate: rebuilds a nested dict around its inputs."""

    def fill(self, *values: Any) -> dict[Any, Any]:
        return {"pair": [values[0], values[1]], ("tuple", "key"): (values[2],)}


# -- plain runs ---------------------------------------------------------------------------------------

def test_electron_with_parent_blob_file_and_keyword_inputs(tmp_path: Path) -> None:
    value_file = tmp_path / "value.pkl"
    value_file.write_bytes(dumps(100))
    frame = task_frame(lambda a, b, c, d=0: a + b + c + d, Parent(0), 2, File(value_file), kwargs={"d": Parent(1)})
    before = time.time()
    meta, value = read_result(run_task(frame, result_frame(40), result_frame(1000)))
    assert meta["status"] == "COMPLETED"
    assert value == 1142
    _, blobs = unpack(run_task(frame, result_frame(40), result_frame(1000)))
    assert meta["output"] == {"blob": "output"}
    assert meta["output_key"] == blob_key(blobs["output"])
    assert meta["output_size"] == len(blobs["output"])
    assert before <= meta["start_time"] <= meta["end_time"] <= time.time()
    assert meta["error"] is None and meta["stdout"] == "" and meta["stderr"] == ""


def test_parent_output_in_a_file_is_read(tmp_path: Path) -> None:
    spilled = tmp_path / "spilled.pkl"
    spilled.write_bytes(dumps([1, 2, 3]))
    parent = pack({"status": "COMPLETED", "output": {"file": str(spilled)}})
    meta, value = read_result(run_task(task_frame(sum, Parent(0)), parent))
    assert (meta["status"], value) == ("COMPLETED", 6)


def test_generated_node_runs_a_builtin_on_its_parent() -> None:
    frame = task_frame(operator.getitem, Parent(0), "b", kind="generated")
    meta, value = read_result(run_task(frame, result_frame({"a": 1, "b": 2})))
    assert (meta["status"], value) == ("COMPLETED", 2)


def test_collection_node_fills_its_template() -> None:
    frame = task_frame(PairTemplate(), Parent(0), Parent(1), 3, kind="collection")
    meta, value = read_result(run_task(frame, result_frame("x"), result_frame("y")))
    assert meta["status"] == "COMPLETED"
    assert value == {"pair": ["x", "y"], ("tuple", "key"): (3,)}


def test_the_same_parent_used_twice_is_one_object() -> None:
    frame = task_frame(lambda a, b: a is b, Parent(0), Parent(0))
    assert read_result(run_task(frame, result_frame([1])))[1] is True


# -- failures -----------------------------------------------------------------------------------------

def test_exception_gives_failed_with_traceback_and_captured_output() -> None:
    meta, value = read_result(run_task(task_frame(divide_noisily, 1, 0)))
    assert meta["status"] == "FAILED"
    assert value is None and meta["output"] is None
    assert meta["error"] == "ZeroDivisionError: division by zero"
    assert "in divide_noisily" in meta["traceback"]
    assert "return a / b" in meta["traceback"]
    assert "executor/runner.py" not in meta["traceback"]
    assert meta["stdout"] == "dividing 1 by 0\n"
    assert meta["stderr"] == "about to fail\n"


def test_system_exit_in_a_task_is_a_failure_not_an_exit() -> None:
    meta, _ = read_result(run_task(task_frame(sys.exit, 3)))
    assert meta["status"] == "FAILED"
    assert meta["error"] == "SystemExit: 3"


def test_unpicklable_output_fails_clearly() -> None:
    meta, _ = read_result(run_task(task_frame(threading.Lock, name="make_lock")))
    assert meta["status"] == "FAILED"
    assert meta["error"].startswith("SerializationError: the output of task 'make_lock'")
    assert "lock" in meta["error"]


def test_unknown_kind_fails() -> None:
    meta, _ = read_result(run_task(task_frame(add, 1, kind="mystery")))
    assert meta["status"] == "FAILED"
    assert "unknown task kind 'mystery'" in meta["error"]


def test_malformed_task_frame_is_a_failed_frame_not_an_exception() -> None:
    meta, _ = read_result(run_task(b"not a frame at all"))
    assert meta["status"] == "FAILED"
    assert "FrameError" in meta["error"]


@pytest.mark.parametrize("status", ["FAILED", "SKIPPED", "CANCELLED"])
def test_skipped_when_a_parent_did_not_complete(tmp_path: Path, status: str) -> None:
    marker = tmp_path / "ran"
    frame = task_frame(append_line, str(marker), Parent(1))
    meta, _ = read_result(run_task(frame, result_frame(1), result_frame(None, status=status)))
    assert meta["status"] == "SKIPPED"
    assert status in meta["error"]
    assert not marker.exists()


# -- spilling -----------------------------------------------------------------------------------------

def test_large_output_spills_to_a_content_addressed_file(tmp_path: Path) -> None:
    spill_dir = tmp_path / "blobs"
    frame = task_frame(bytes, 5000, spill_dir=str(spill_dir), spill_threshold=1000)
    meta, value = read_result(run_task(frame))
    key = meta["output_key"]
    assert meta["status"] == "COMPLETED"
    assert meta["output"] == {"file": str(spill_dir / key[:2] / key[2:])}
    assert value == bytes(5000)
    assert blob_key((spill_dir / key[:2] / key[2:]).read_bytes()) == key
    assert unpack(run_task(frame))[1] == {}  # nothing inline
    again, _ = read_result(run_task(frame))
    assert again["output"] == meta["output"]
    assert os.listdir(spill_dir / key[:2]) == [key[2:]]  # no temp files left


def test_small_output_stays_inline_even_with_a_spill_dir(tmp_path: Path) -> None:
    frame = task_frame(bytes, 10, spill_dir=str(tmp_path), spill_threshold=1000)
    meta, value = read_result(run_task(frame))
    assert meta["output"] == {"blob": "output"}
    assert value == bytes(10)
    assert os.listdir(tmp_path) == []


# -- hooks --------------------------------------------------------------------------------------------

def test_hooks_run_in_covalents_order(tmp_path: Path) -> None:
    log = tmp_path / "order.log"
    hooks = TaskHooks(
        bash=[f"echo bash >> '{log}'", "echo from bash; echo bash-err >&2"],
        call_before=[DepsCall(append_line, args=[str(log), "before"])],
        call_after=[DepsCall(append_line, args=[str(log), "after"])],
    )
    meta, _ = read_result(run_task(task_frame(log_task, str(log), hooks=hooks)))
    assert meta["status"] == "COMPLETED"
    assert log.read_text().split() == ["bash", "before", "task", "after"]
    assert meta["stdout"] == "from bash\n"
    assert meta["stderr"] == "bash-err\n"


def test_retval_keywords_reach_the_task_and_repeats_become_a_list(tmp_path: Path) -> None:
    hooks = TaskHooks(call_before=[
        DepsCall(str.upper, args=["single"], retval_keyword="one"),
        DepsCall(append_line, args=[str(tmp_path / "a"), "first"], retval_keyword="many"),
        DepsCall(append_line, args=[str(tmp_path / "b"), "second"], retval_keyword="many"),
        DepsCall(append_line, args=[str(tmp_path / "c"), "unused"]),
    ])
    meta, value = read_result(run_task(task_frame(log_task, str(tmp_path / "log"), hooks=hooks)))
    assert meta["status"] == "COMPLETED"
    assert value == {"one": "SINGLE", "many": ["first", "second"]}


def test_failing_bash_command_fails_the_task_before_it_runs(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    hooks = TaskHooks(bash=["echo setting up", "exit 7"])
    meta, _ = read_result(run_task(task_frame(append_line, str(marker), "x", hooks=hooks)))
    assert meta["status"] == "FAILED"
    assert meta["error"] == "TaskHookError: deps_bash command 'exit 7' exited with code 7"
    assert meta["stdout"] == "setting up\n"
    assert not marker.exists()


def test_failing_call_after_fails_the_task() -> None:
    hooks = TaskHooks(call_after=[DepsCall(operator.truediv, args=[1, 0])])
    meta, _ = read_result(run_task(task_frame(add, 1, hooks=hooks)))
    assert meta["status"] == "FAILED"
    assert meta["error"] == "ZeroDivisionError: division by zero"


def test_sublattice_returns_the_inner_manifest_with_its_inputs() -> None:
    pytest.importorskip("covalent_nb.workflow.manifest", reason="the workflow builder is not written yet")
    import covalent_nb as ct

    @ct.electron
    def increment(x: int) -> int:
        return x + 1

    @ct.lattice
    def inner(x: int, y: int = 0) -> int:
        return increment(x)

    frame = task_frame(inner, Parent(0), kind="sublattice", kwargs={"y": 5})
    meta, blobs = unpack(run_task(frame, result_frame(41)))
    assert meta["status"] == "SUBLATTICE", meta["error"]
    assert meta["output"] is None
    manifest = json.loads(bytes(blobs["manifest"]))
    assert manifest["name"] == "inner"
    inline = manifest["blobs"]
    args = [loads(base64.b64decode(inline[key])) for key in manifest["inputs"]["args"]]
    kwargs = {name: loads(base64.b64decode(inline[key])) for name, key in manifest["inputs"]["kwargs"].items()}
    assert (args, kwargs) == ([41], {"y": 5})
    assert all(node["function"] in inline for node in manifest["nodes"] if node["function"])


# -- command line -------------------------------------------------------------------------------------

def test_command_line_reads_and_writes_frame_files(tmp_path: Path) -> None:
    (tmp_path / "task").write_bytes(task_frame(add, Parent(0), 5))
    (tmp_path / "parent").write_bytes(result_frame(37))
    proc = subprocess.run(
        [sys.executable, "-m", "covalent_nb.executor.runner",
         str(tmp_path / "task"), str(tmp_path / "result"), str(tmp_path / "parent")],
        capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    meta, value = read_result((tmp_path / "result").read_bytes())
    assert (meta["status"], value) == ("COMPLETED", 42)


def test_command_line_without_arguments_prints_usage() -> None:
    proc = subprocess.run([sys.executable, "-m", "covalent_nb.executor.runner"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "usage:" in proc.stderr


# -- on a real Dask cluster ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def dask_client() -> Iterator[Any]:
    """A real Dask cluster: one worker process with two threads (tasks run side by side)."""
    with local_dask_client(threads_per_worker=2) as client:
        yield client


def print_lines(label: str, count: int) -> str:
    for line in range(count):
        print(f"{label} {line}")
        time.sleep(0.001)
    return label


def test_chained_futures_on_dask_workers(dask_client: Any) -> None:
    first = dask_client.submit(run_task, task_frame(add, 40, 2), pure=False)
    second = dask_client.submit(run_task, task_frame(operator.mul, Parent(0), 10, kind="generated"), first,
                                pure=False)
    meta, value = read_result(second.result(timeout=60))
    assert (meta["status"], value) == ("COMPLETED", 420)


def test_failure_on_dask_skips_the_child(dask_client: Any) -> None:
    failing = dask_client.submit(run_task, task_frame(divide_noisily, 1, 0), pure=False)
    child = dask_client.submit(run_task, task_frame(add, Parent(0), 1), failing, pure=False)
    failed_meta, _ = read_result(failing.result(timeout=60))
    child_meta, _ = read_result(child.result(timeout=60))
    assert failed_meta["status"] == "FAILED"
    assert "ZeroDivisionError" in failed_meta["traceback"]
    assert failed_meta["stdout"] == "dividing 1 by 0\n"
    assert child_meta["status"] == "SKIPPED"


def test_concurrent_tasks_in_one_worker_keep_their_own_output(dask_client: Any) -> None:
    futures = [dask_client.submit(run_task, task_frame(print_lines, label, 100), pure=False)
               for label in ("alpha", "beta")]
    for label, future in zip(("alpha", "beta"), futures):
        meta, value = read_result(future.result(timeout=60))
        lines = meta["stdout"].splitlines()
        assert value == label
        assert len(lines) == 100
        assert all(line.startswith(label + " ") for line in lines)
