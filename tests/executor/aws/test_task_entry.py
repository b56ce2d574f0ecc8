"""The task side, run for real against moto's S3: the console script's main() and the Lambda handler."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
from typing import Any

import pytest

from covalent_nb.executor.aws import staging, task_entry

from ..taskframes import Parent, read_result, result_frame, task_frame
from .conftest import MotoServer


def shout(word: str) -> str:
    print(f"shouting {word}")
    print("to stderr", file=sys.stderr)
    return word.upper()


def explode() -> None:
    raise RuntimeError("the task blew up")


def stage(s3: Any, bucket: str, frame: bytes, parents: list[bytes] | None = None) -> staging.StagedTask:
    return staging.stage_task(s3, bucket, staging.task_folder("covalent-nb", "dispatch-1", 0), frame, parents or [])


def command_args(staged: staging.StagedTask) -> list[str]:
    args = ["--bucket", staged.bucket, "--task-key", staged.task_key, "--result-key", staged.result_key]
    for key in staged.parent_keys:
        args += ["--parent-key", key]
    return args


def result_of(s3: Any, staged: staging.StagedTask) -> tuple[dict[str, Any], Any]:
    frame = staging.fetch_result(s3, staged)
    assert frame is not None, "the runner wrote no result frame"
    return read_result(frame)


def test_main_runs_the_staged_task_and_uploads_its_result(s3: Any, bucket: str, moto_server: MotoServer) -> None:
    staged = stage(s3, bucket, task_frame(shout, "hello"))
    assert task_entry.main([*command_args(staged), "--endpoint-url", moto_server.endpoint]) == 0
    meta, value = result_of(s3, staged)
    assert meta["status"] == "COMPLETED"
    assert value == "HELLO"
    assert meta["stdout"] == "shouting hello\n"
    assert meta["stderr"] == "to stderr\n"


def test_a_failing_task_exits_0_with_a_failed_frame_and_its_traceback(
        s3: Any, bucket: str, moto_server: MotoServer) -> None:
    staged = stage(s3, bucket, task_frame(explode))
    assert task_entry.main([*command_args(staged), "--endpoint-url", moto_server.endpoint]) == 0
    meta, value = result_of(s3, staged)
    assert meta["status"] == "FAILED"
    assert meta["error"] == "RuntimeError: the task blew up"
    assert 'raise RuntimeError("the task blew up")' in meta["traceback"]
    assert value is None


def test_parent_frames_reach_the_task(s3: Any, bucket: str, moto_server: MotoServer) -> None:
    staged = stage(s3, bucket, task_frame(lambda a, b: a * b, Parent(0), Parent(1)),
                   [result_frame(6), result_frame(7)])
    assert task_entry.main([*command_args(staged), "--endpoint-url", moto_server.endpoint]) == 0
    assert result_of(s3, staged)[1] == 42


def test_the_command_in_a_subprocess_finds_moto_through_aws_endpoint_url(
        s3: Any, bucket: str, moto_server: MotoServer) -> None:
    staged = stage(s3, bucket, task_frame(os.getpid))
    env = dict(os.environ, AWS_ENDPOINT_URL=moto_server.endpoint)
    done = subprocess.run([sys.executable, "-m", "covalent_nb.executor.aws.task_entry", *command_args(staged)],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "task finished COMPLETED" in done.stderr
    meta, pid = result_of(s3, staged)
    assert meta["status"] == "COMPLETED" and pid != os.getpid()


def test_a_missing_task_object_is_a_staging_failure(s3: Any, bucket: str, moto_server: MotoServer,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--bucket", bucket, "--task-key", "nowhere/task.frame", "--result-key", "nowhere/result.frame"]
    assert task_entry.main([*args, "--endpoint-url", moto_server.endpoint]) == 1
    assert f"staging failed for s3://{bucket}/nowhere/task.frame" in capsys.readouterr().err
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0


def test_the_console_script_is_declared() -> None:
    scripts = {ep.name: ep.value for ep in importlib.metadata.entry_points(group="console_scripts")}
    assert scripts.get("covalent-nb-aws-task") == "covalent_nb.executor.aws.task_entry:main"


def test_lambda_handler_runs_the_task_named_by_the_event(s3: Any, bucket: str, endpoint_env: str) -> None:
    staged = stage(s3, bucket, task_frame(shout, "lambda"))
    event = {"bucket": bucket, "task_key": staged.task_key, "result_key": staged.result_key}
    assert task_entry.lambda_handler(event, None) == {"status": "COMPLETED", "result_key": staged.result_key}
    meta, value = result_of(s3, staged)
    assert value == "LAMBDA" and meta["stdout"] == "shouting lambda\n"


def test_lambda_handler_reports_a_failed_task_in_its_answer(s3: Any, bucket: str, endpoint_env: str) -> None:
    staged = stage(s3, bucket, task_frame(explode))
    event = {"bucket": bucket, "task_key": staged.task_key, "result_key": staged.result_key}
    assert task_entry.lambda_handler(event, None)["status"] == "FAILED"
    assert result_of(s3, staged)[0]["error"] == "RuntimeError: the task blew up"


def test_lambda_handler_rejects_an_incomplete_event() -> None:
    with pytest.raises(ValueError, match="lacks task_key, result_key"):
        task_entry.lambda_handler({"bucket": "b"}, None)
