"""AWSLambdaExecutor against moto's server: S3 staging, result fetch and clean-up all hit moto for real.

moto registers Lambda functions without Docker but runs their code only in
Docker, which is not available here: its Docker-free Lambda answers an
invocation with the request payload. Where a test needs the task to run, the
test plays the Lambda service: it replaces only the executor's ``_invoke``
step with :func:`playing_aws.play_lambda`, which calls the shipped handler
``task_entry.lambda_handler`` in this process, against moto's S3.
"""

from __future__ import annotations

import asyncio
import io
import json
import uuid
import zipfile
from pathlib import Path
from typing import Any

import pytest

import covalent_nb.executor as executors
from covalent_nb._serialize import dumps
from covalent_nb.errors import ExecutorError
from covalent_nb.executor import executor_class, executor_from_spec
from covalent_nb.executor.aws.lambda_executor import AWSLambdaExecutor, LambdaReply

from ..taskframes import File, read_result, task_frame
from .conftest import MotoServer
from .playing_aws import bucket_keys, play_lambda

METADATA = {"dispatch_id": "dispatch-9", "node_id": 3}


@pytest.fixture
def function_name(session: Any, moto_server: MotoServer, iam_role: str) -> str:
    """A Lambda function registered in moto from a zip (its code never runs here)."""
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("handler.py", "def lambda_handler(event, context):\n    return event\n")
    client = session.client("lambda", endpoint_url=moto_server.endpoint)
    name = f"covalent-nb-task-{uuid.uuid4().hex[:8]}"
    client.create_function(FunctionName=name, Runtime="python3.11", Role=iam_role,
                           Handler="handler.lambda_handler", Code={"ZipFile": archive.getvalue()})
    return name


def executor(moto_server: MotoServer, bucket: str, function_name: str = "covalent-nb-task") -> AWSLambdaExecutor:
    return AWSLambdaExecutor(function_name=function_name, s3_bucket_name=bucket, endpoint_url=moto_server.endpoint)


def run(ex: AWSLambdaExecutor, frame: bytes) -> tuple[dict[str, Any], Any]:
    async def go() -> bytes:
        await ex.setup(METADATA)
        return await ex.run(frame, [], METADATA)
    return read_result(asyncio.run(go()))


def greet(name: str) -> str:
    print(f"hello {name}")
    return f"hi {name}"


class PlayedLambda:
    """Stands in for the Lambda service (see the module docstring); records each payload and what S3 held.

    Installed as an executor's ``_invoke`` with :meth:`install`.
    """

    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3, self.bucket = s3, bucket
        self.payloads: list[dict[str, Any]] = []
        self.staged_keys: list[list[str]] = []

    def install(self, ex: AWSLambdaExecutor, monkeypatch: pytest.MonkeyPatch) -> AWSLambdaExecutor:
        monkeypatch.setattr(ex, "_invoke", self)
        return ex

    def __call__(self, session: Any, payload: dict[str, Any]) -> LambdaReply:
        self.payloads.append(payload)
        self.staged_keys.append(bucket_keys(self.s3, self.bucket))
        return play_lambda(payload)


def test_settings_names_and_registration() -> None:
    assert executors.AWSLambdaExecutor is AWSLambdaExecutor
    assert executor_class("awslambda") is AWSLambdaExecutor
    ex = AWSLambdaExecutor(function_name="my-lambda-function", s3_bucket_name="my-s3-bucket-name")
    assert ex.timeout == 900 and ex.s3_prefix == "covalent-nb"
    assert executor_from_spec(json.loads(json.dumps(ex.to_spec()))) == ex
    with pytest.raises(ExecutorError, match="needs setting 'function_name'.*executors.awslambda"):
        AWSLambdaExecutor(s3_bucket_name="b")
    with pytest.raises(ExecutorError, match="'timeout' must be int"):
        AWSLambdaExecutor(function_name="f", s3_bucket_name="b", timeout="soon")


def test_runs_a_task_with_the_test_playing_lambda(s3: Any, bucket: str, function_name: str,
                                                   moto_server: MotoServer, endpoint_env: str,
                                                   monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The test plays Lambda (moto cannot run the function without Docker); S3 is moto's."""
    played = PlayedLambda(s3, bucket)
    ex = played.install(executor(moto_server, bucket, function_name), monkeypatch)
    big_input = tmp_path / "input"
    big_input.write_bytes(dumps("world"))  # a {"file": path} input, as the dispatcher hands large blobs
    meta, value = run(ex, task_frame(greet, File(str(big_input))))
    assert meta["status"] == "COMPLETED", meta["error"]
    assert value == "hi world"
    assert meta["stdout"] == "hello world\n"
    [payload] = played.payloads
    assert payload["bucket"] == bucket
    assert payload["task_key"].startswith("covalent-nb/dispatch-9/3-") and payload["task_key"].endswith("/task.frame")
    assert payload["result_key"] == payload["task_key"].replace("task.frame", "result.frame")
    assert played.staged_keys == [[payload["task_key"]]]
    assert bucket_keys(s3, bucket) == []  # cleaned up


def test_a_failing_task_comes_back_failed_with_its_traceback(
        s3: Any, bucket: str, function_name: str, moto_server: MotoServer, endpoint_env: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The test plays Lambda, as above."""
    ex = PlayedLambda(s3, bucket).install(executor(moto_server, bucket, function_name), monkeypatch)
    meta, _ = run(ex, task_frame(lambda: {}["missing"]))
    assert meta["status"] == "FAILED"
    assert meta["error"] == "KeyError: 'missing'"
    assert "Traceback" in meta["traceback"]
    assert bucket_keys(s3, bucket) == []


def test_a_function_error_becomes_a_failed_frame(s3: Any, bucket: str, function_name: str,
                                                  moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """The test plays a Lambda whose handler crashes: its AWS_ENDPOINT_URL points where nothing
    listens, so the handler cannot read the staged task, and (as Lambda does) the played
    service reports the handler's exception as a function error."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens on the discard port
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    ex = PlayedLambda(s3, bucket).install(executor(moto_server, bucket, function_name), monkeypatch)
    meta, _ = run(ex, task_frame(greet, "x"))
    assert meta["status"] == "FAILED"
    assert f"the Lambda function {function_name!r} failed (Unhandled)" in meta["error"]
    assert "EndpointConnectionError" in meta["error"]
    assert meta["stderr"] == "handler log line\n"
    assert meta["traceback"]
    assert bucket_keys(s3, bucket) == []


def test_a_function_that_writes_no_result_is_reported(s3: Any, bucket: str, function_name: str,
                                                       moto_server: MotoServer) -> None:
    """The real invoke goes to moto, whose Docker-free Lambda echoes the payload without running anything."""
    meta, _ = run(executor(moto_server, bucket, function_name), task_frame(greet, "x"))
    assert meta["status"] == "FAILED"
    assert "returned without writing a result" in meta["error"]
    assert "task_entry.lambda_handler" in meta["error"]
    assert '"task_key": "covalent-nb/dispatch-9/3-' in meta["error"]  # moto echoed the payload sent
    assert bucket_keys(s3, bucket) == []


def test_a_missing_bucket_fails_before_invoking(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> None:
    played = PlayedLambda(None, "")
    ex = played.install(executor(moto_server, "covalent-nb-no-such-bucket"), monkeypatch)
    meta, _ = run(ex, task_frame(greet, "x"))
    assert meta["status"] == "FAILED"
    assert "could not stage the task in s3://covalent-nb-no-such-bucket/covalent-nb" in meta["error"]
    assert "NoSuchBucket" in meta["error"]
    assert played.payloads == []


def test_a_running_invocation_cannot_be_cancelled(moto_server: MotoServer) -> None:
    assert asyncio.run(executor(moto_server, "b").cancel(METADATA)) is False
