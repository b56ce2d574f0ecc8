"""AWSBatchExecutor against moto's server: staging, submission, status, termination and clean-up hit moto.

moto runs Batch jobs only in Docker, which is not available here; its
Docker-free Batch marks a submitted job SUCCEEDED at once without running it.
Where a test needs the task to run, the test plays the Batch container: right
after the real SubmitJob it runs the submitted command (the shipped
``covalent-nb-aws-task`` runner) in a subprocess against moto's S3. Where a test
needs a job that is still queued or running, it plays the job's status by
replacing the executor's status lookup (``_job_state``) for those polls.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

import covalent_nb.executor as executors
from covalent_nb.errors import ExecutorError
from covalent_nb.executor import executor_class, executor_from_spec
from covalent_nb.executor.aws.batch_executor import AWSBatchExecutor, JobState, poll_intervals
from covalent_nb.executor.aws.staging import StagedTask

from ..taskframes import read_result, task_frame
from .conftest import MotoServer
from .playing_aws import bucket_keys, play_batch_container

METADATA = {"dispatch_id": "dispatch-5", "node_id": 2}


@pytest.fixture
def batch(session: Any, moto_server: MotoServer) -> Any:
    """A Batch client talking to moto."""
    return session.client("batch", endpoint_url=moto_server.endpoint)


@pytest.fixture
def job_queue(batch: Any, iam_role: str) -> tuple[str, str]:
    """``(job queue, job definition)`` created in moto."""
    suffix = uuid.uuid4().hex[:8]
    env = batch.create_compute_environment(computeEnvironmentName=f"env-{suffix}", type="UNMANAGED",
                                           state="ENABLED", serviceRole=iam_role)
    batch.create_job_queue(jobQueueName=f"queue-{suffix}", state="ENABLED", priority=1,
                           computeEnvironmentOrder=[{"order": 1, "computeEnvironment": env["computeEnvironmentArn"]}])
    batch.register_job_definition(
        jobDefinitionName=f"def-{suffix}", type="container",
        containerProperties={"image": "covalent-nb-task:latest", "command": ["covalent-nb-aws-task"],
                             "resourceRequirements": [{"type": "VCPU", "value": "1"},
                                                      {"type": "MEMORY", "value": "512"}]})
    return f"queue-{suffix}", f"def-{suffix}"


def executor(moto_server: MotoServer, bucket: str, job_queue: tuple[str, str], **settings: Any) -> AWSBatchExecutor:
    return AWSBatchExecutor(job_queue=job_queue[0], job_definition=job_queue[1], s3_bucket_name=bucket,
                            endpoint_url=moto_server.endpoint, **settings)


class PlayedBatch:
    """Plays what moto's Batch cannot do here (see the module docstring) around the real calls to moto.

    ``statuses`` are reported, one per poll, before the real status; ``stuck``
    is reported forever instead of the real one; ``run_container`` runs the
    submitted command after SubmitJob.
    """

    def __init__(self, ex: AWSBatchExecutor, endpoint: str, monkeypatch: pytest.MonkeyPatch, *,
                 run_container: bool = True, statuses: tuple[str, ...] = (), stuck: str | None = None) -> None:
        self.endpoint, self.run_container = endpoint, run_container
        self.statuses, self.stuck = list(statuses), stuck
        self.real_submit, self.real_state = ex._submit, ex._job_state
        self.requests: list[dict[str, Any]] = []
        self.job_ids: list[str] = []
        self.poll_times: list[float] = []
        self.container_stderr = ""
        monkeypatch.setattr(ex, "_submit", self.submit)
        monkeypatch.setattr(ex, "_job_state", self.job_state)

    def submit(self, batch: Any, request: dict[str, Any]) -> str:
        job_id = self.real_submit(batch, request)
        self.requests.append(request)
        self.job_ids.append(job_id)
        if self.run_container:
            done = play_batch_container(request["containerOverrides"]["command"], self.endpoint)
            assert done.returncode == 0, done.stderr
            self.container_stderr = done.stderr
        return job_id

    def job_state(self, batch: Any, job_id: str) -> JobState:
        self.poll_times.append(time.monotonic())
        if self.statuses:
            return JobState(self.statuses.pop(0))
        if self.stuck:
            return JobState(self.stuck)
        return self.real_state(batch, job_id)


def run(ex: AWSBatchExecutor, frame: bytes) -> tuple[dict[str, Any], Any]:
    async def go() -> bytes:
        await ex.setup(METADATA)
        return await ex.run(frame, [], METADATA)
    return read_result(asyncio.run(go()))


def described(batch: Any, job_id: str) -> dict[str, Any]:
    return batch.describe_jobs(jobs=[job_id])["jobs"][0]


def compute(x: int) -> int:
    print(f"computing {x}")
    return x * x


def test_settings_names_and_registration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert executors.AWSBatchExecutor is AWSBatchExecutor
    assert executor_class("awsbatch") is AWSBatchExecutor
    with pytest.raises(ExecutorError, match="needs setting 'job_queue'.*executors.awsbatch"):
        AWSBatchExecutor(vcpus=2)   # partially defined, but the client's config has no [executors.awsbatch]
    config = tmp_path / "client-config"
    config.mkdir()
    (config / "covalent.conf").write_text('[executors.awsbatch]\njob_queue = "q"\njob_definition = "d"\n'
                                          's3_bucket_name = "b"\n')
    monkeypatch.setenv("COVALENT_NB_CONFIG_DIR", str(config))
    partial = AWSBatchExecutor(vcpus=2)  # partially defined: the rest comes from the client's config
    assert (partial.job_queue, partial.job_definition, partial.s3_bucket_name) == ("q", "d", "b")
    assert (partial.vcpus, partial.memory, partial.poll_freq, partial.timeout) == (2, 3840, 2.0, 3600)
    assert executor_from_spec(json.loads(json.dumps(partial.to_spec()))) == partial
    assert AWSBatchExecutor(poll_freq=5).poll_freq == 5
    with pytest.raises(ExecutorError, match="'vcpus' must be int"):
        AWSBatchExecutor(vcpus=True)


def test_a_partially_defined_executor_takes_the_rest_from_the_config() -> None:
    config_dir = Path(os.environ["COVALENT_NB_CONFIG_DIR"])
    config_dir.mkdir()
    (config_dir / "covalent.conf").write_text(
        '[executors.awsbatch]\njob_queue = "team-queue"\njob_definition = "team-def"\n'
        's3_bucket_name = "team-bucket"\nvcpus = 8\n')
    ex = AWSBatchExecutor(vcpus=2)
    assert (ex.job_queue, ex.job_definition, ex.s3_bucket_name, ex.vcpus) == ("team-queue", "team-def", "team-bucket", 2)
    asyncio.run(ex.setup(METADATA))  # nothing required is missing now


def test_poll_intervals_double_up_to_the_cap() -> None:
    intervals = poll_intervals(2.0)
    assert [next(intervals) for _ in range(7)] == [2, 4, 8, 16, 30, 30, 30]
    assert next(poll_intervals(45.0)) == 30


def test_submit_request_runs_the_task_command_with_the_resources() -> None:
    ex = AWSBatchExecutor(job_queue="q", job_definition="d", s3_bucket_name="b", vcpus=4, memory=8192, timeout=30)
    request = ex.submit_request(StagedTask("b", "p/d/1-x", ("p/d/1-x/parent-0.frame",)), ("d/1", 1))
    assert request["jobName"] == "covalent-nb-d_1-1"
    assert request["containerOverrides"]["command"] == [
        "covalent-nb-aws-task", "--bucket", "b", "--task-key", "p/d/1-x/task.frame",
        "--result-key", "p/d/1-x/result.frame", "--parent-key", "p/d/1-x/parent-0.frame"]
    assert request["containerOverrides"]["resourceRequirements"] == [
        {"type": "VCPU", "value": "4"}, {"type": "MEMORY", "value": "8192"}]
    assert request["timeout"] == {"attemptDurationSeconds": 60}  # Batch's minimum


def test_runs_a_task_as_a_batch_job(s3: Any, bucket: str, batch: Any, job_queue: tuple[str, str],
                                    moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """The test plays the job's container (module docstring); submission and status are moto's."""
    ex = executor(moto_server, bucket, job_queue, poll_freq=0.05)
    played = PlayedBatch(ex, moto_server.endpoint, monkeypatch)
    meta, value = run(ex, task_frame(compute, 7))
    assert meta["status"] == "COMPLETED", meta["error"]
    assert value == 49
    assert meta["stdout"] == "computing 7\n"
    [request], [job_id] = played.requests, played.job_ids
    job = described(batch, job_id)
    assert job["jobQueue"].endswith(f"/{job_queue[0]}")
    command = job["container"]["command"]
    assert command[:3] == ["covalent-nb-aws-task", "--bucket", bucket]
    assert command[4].startswith("covalent-nb/dispatch-5/2-") and command[4].endswith("/task.frame")
    assert request["containerOverrides"]["resourceRequirements"] == [
        {"type": "VCPU", "value": "2"}, {"type": "MEMORY", "value": "3840"}]
    assert "task finished COMPLETED" in played.container_stderr
    assert bucket_keys(s3, bucket) == []  # cleaned up


def test_a_failing_task_comes_back_failed_with_its_traceback(
        s3: Any, bucket: str, job_queue: tuple[str, str], moto_server: MotoServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The test plays the job's container, as above."""
    ex = executor(moto_server, bucket, job_queue, poll_freq=0.05)
    PlayedBatch(ex, moto_server.endpoint, monkeypatch)
    meta, _ = run(ex, task_frame(lambda: compute("x") + 1))
    assert meta["status"] == "FAILED"
    assert meta["error"].startswith("TypeError:")
    assert "compute" in meta["traceback"]
    assert meta["stdout"] == "computing x\n"
    assert bucket_keys(s3, bucket) == []


def test_polling_backs_off(s3: Any, bucket: str, job_queue: tuple[str, str], moto_server: MotoServer,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The test plays the job's container and reports it queued/running for the first polls."""
    ex = executor(moto_server, bucket, job_queue, poll_freq=0.05)
    played = PlayedBatch(ex, moto_server.endpoint, monkeypatch,
                         statuses=("SUBMITTED", "RUNNABLE", "STARTING", "RUNNING"))
    meta, value = run(ex, task_frame(compute, 3))
    assert (meta["status"], value) == ("COMPLETED", 9)
    gaps = [later - earlier for earlier, later in zip(played.poll_times, played.poll_times[1:])]
    assert len(gaps) == 4
    for gap, planned in zip(gaps, [0.05, 0.1, 0.2, 0.4]):  # a wait is never shorter than planned
        assert gap >= planned * 0.95


def test_a_job_over_its_timeout_is_terminated(s3: Any, bucket: str, batch: Any, job_queue: tuple[str, str],
                                              moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """The test plays a job stuck in RUNNABLE (no capacity); TerminateJob really goes to moto."""
    ex = executor(moto_server, bucket, job_queue, poll_freq=0.1, timeout=1)
    played = PlayedBatch(ex, moto_server.endpoint, monkeypatch, run_container=False, stuck="RUNNABLE")
    began = time.monotonic()
    meta, _ = run(ex, task_frame(compute, 1))
    assert time.monotonic() - began < 10
    assert meta["status"] == "FAILED"
    assert f"AWS Batch job {played.job_ids[0]} did not finish within the executor's timeout of 1 s" in meta["error"]
    assert "last status RUNNABLE" in meta["error"]
    assert described(batch, played.job_ids[0])["statusReason"] == "timed out after 1 s"
    assert bucket_keys(s3, bucket) == []


def test_cancel_terminates_the_job(s3: Any, bucket: str, batch: Any, job_queue: tuple[str, str],
                                   moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """The test plays a job that keeps RUNNING; TerminateJob really goes to moto."""
    ex = executor(moto_server, bucket, job_queue, poll_freq=0.05)
    played = PlayedBatch(ex, moto_server.endpoint, monkeypatch, run_container=False, stuck="RUNNING")

    async def go() -> tuple[bool, bool, bytes]:
        running = asyncio.create_task(ex.run(task_frame(compute, 1), [], METADATA))
        while len(played.poll_times) < 2:
            await asyncio.sleep(0.01)
        cancelled = await ex.cancel(METADATA)
        unknown = await ex.cancel({"dispatch_id": "dispatch-5", "node_id": 99})
        return cancelled, unknown, await asyncio.wait_for(running, 10)

    cancelled, unknown, frame = asyncio.run(go())
    assert (cancelled, unknown) == (True, False)
    meta, _ = read_result(frame)
    assert meta["status"] == "FAILED"
    assert meta["error"] == f"the task was cancelled: its AWS Batch job {played.job_ids[0]} was terminated"
    assert described(batch, played.job_ids[0])["statusReason"] == "cancelled by covalent-nb"
    assert bucket_keys(s3, bucket) == []
    assert asyncio.run(ex.cancel(METADATA)) is False  # no longer running


def test_a_dispatcher_that_stops_waiting_terminates_the_job(
        s3: Any, bucket: str, batch: Any, job_queue: tuple[str, str], moto_server: MotoServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """As above; the asyncio task running run() is cancelled, as the dispatcher does at a time limit."""
    ex = executor(moto_server, bucket, job_queue, poll_freq=0.05)
    played = PlayedBatch(ex, moto_server.endpoint, monkeypatch, run_container=False, stuck="RUNNING")

    async def go() -> None:
        running = asyncio.create_task(ex.run(task_frame(compute, 1), [], METADATA))
        while not played.poll_times:
            await asyncio.sleep(0.01)
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running

    asyncio.run(go())
    assert "stopped waiting" in described(batch, played.job_ids[0])["statusReason"]
    assert bucket_keys(s3, bucket) == []


def test_a_job_that_writes_no_result_is_reported(s3: Any, bucket: str, job_queue: tuple[str, str],
                                                 moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """No container is played: moto's Batch marks the job SUCCEEDED without running anything."""
    ex = executor(moto_server, bucket, job_queue, poll_freq=0.05)
    PlayedBatch(ex, moto_server.endpoint, monkeypatch, run_container=False)
    meta, _ = run(ex, task_frame(compute, 1))
    assert meta["status"] == "FAILED"
    assert "succeeded without writing a result" in meta["error"]
    assert f"job definition {job_queue[1]!r}" in meta["error"]
    assert bucket_keys(s3, bucket) == []


def test_a_failed_job_reports_its_reason_and_exit_code(
        s3: Any, bucket: str, job_queue: tuple[str, str], moto_server: MotoServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The test plays a job whose container died (its status and reason), with no container run."""
    ex = executor(moto_server, bucket, job_queue, poll_freq=0.05)
    monkeypatch.setattr(ex, "_job_state", lambda batch, job_id: JobState(
        "FAILED", "Essential container in task exited", 137, "def/default/abc"))
    meta, _ = run(ex, task_frame(compute, 1))
    assert meta["status"] == "FAILED"
    assert "failed without writing a result" in meta["error"]
    assert "reason: Essential container in task exited; exit code 137" in meta["error"]
    assert "CloudWatch log stream def/default/abc" in meta["error"]
    assert bucket_keys(s3, bucket) == []


def test_an_unknown_job_queue_fails_the_submission(s3: Any, bucket: str, moto_server: MotoServer) -> None:
    ex = executor(moto_server, bucket, ("no-such-queue", "no-such-definition"), poll_freq=0.05)
    meta, _ = run(ex, task_frame(compute, 1))
    assert meta["status"] == "FAILED"
    assert "could not submit the task to job queue 'no-such-queue'" in meta["error"]
    assert bucket_keys(s3, bucket) == []
