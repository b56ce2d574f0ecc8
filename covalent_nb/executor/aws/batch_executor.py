"""AWSBatchExecutor: each task runs as one AWS Batch job.

The task is staged in S3 (see :mod:`covalent_nb.executor.aws.staging`), a job
is submitted whose container runs ``covalent-nb-aws-task`` on the staged keys
(see :mod:`covalent_nb.executor.aws.task_entry`), the job is polled with
exponential back-off until it stops, and the result frame it wrote is
fetched; the staged objects are then deleted. A job that outlives
``timeout``, or whose task is cancelled, is terminated (``TerminateJob``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import time
from typing import Any, ClassVar, Iterator

from covalent_nb.executor.aws.s3_executor import S3StagedExecutor, describe_aws_error
from covalent_nb.executor.aws.staging import StagedTask
from covalent_nb.executor.base import REQUIRED, TaskKey, failed_frame, task_key

__all__ = ["AWSBatchExecutor", "JobState", "poll_intervals"]

logger = logging.getLogger(__name__)

MAX_POLL_INTERVAL = 30.0
"""The longest wait (seconds) between two status checks of a job."""

TASK_COMMAND = "covalent-nb-aws-task"
"""The console script the job's container runs (installed with covalent-nb)."""

_STOPPED = ("SUCCEEDED", "FAILED")
_JOB_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def poll_intervals(first: float, cap: float = MAX_POLL_INTERVAL) -> Iterator[float]:
    """Waits between status checks: ``first`` (at least 0.01 s), then doubling, never above ``cap``."""
    interval = min(max(first, 0.01), cap)
    while True:
        yield interval
        interval = min(interval * 2, cap)


@dataclasses.dataclass(frozen=True)
class JobState:
    """A Batch job's status as DescribeJobs reports it."""

    status: str
    reason: str = ""
    exit_code: int | None = None
    log_stream: str = ""


@dataclasses.dataclass
class _BatchTask:
    """One task this executor is running: its job (once submitted) and whether it was cancelled."""

    batch: Any
    cancelled: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)
    job_id: str | None = None
    terminated: bool = False


class AWSBatchExecutor(S3StagedExecutor):
    """Run each task as an AWS Batch job.

    ``job_queue``, ``job_definition`` and ``s3_bucket_name`` are required (the
    job definition's image must have covalent-nb installed, see ``docs/aws.md``);
    ``vcpus`` and ``memory`` (MiB) override the job definition's resources;
    ``poll_freq`` is the first wait (seconds) between status checks, doubling
    up to 30 s; ``timeout`` (seconds) after which the job is terminated.
    """

    short_name: ClassVar[str] = "awsbatch"
    attributes: ClassVar[dict[str, tuple[Any, Any]]] = {
        "job_queue": (str, REQUIRED),
        "job_definition": (str, REQUIRED),
        "s3_bucket_name": (str, REQUIRED),
        "vcpus": (int, 2),
        "memory": (int, 3840),
        "region": (str, ""),
        "profile": (str, ""),
        "endpoint_url": (str, ""),
        "s3_prefix": (str, "covalent-nb"),
        "poll_freq": ((float, int), 2.0),
        "timeout": (int, 3600),
    }
    required_settings: ClassVar[tuple[str, ...]] = ("job_queue", "job_definition", "s3_bucket_name")
    job_queue: str
    job_definition: str
    vcpus: int
    memory: int
    poll_freq: float
    timeout: int

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self._tasks: dict[TaskKey, _BatchTask] = {}

    async def run(self, task_frame: bytes, parent_frames: list[bytes], task_metadata: dict[str, Any]) -> bytes:
        """Stage the task, submit its job, wait for it, return the result frame it wrote, clean up."""
        self.check_settings()
        start = time.time()
        key = task_key(task_metadata, task_frame)
        session = await asyncio.to_thread(self.session)
        s3 = await asyncio.to_thread(self.client, session, "s3")
        task = _BatchTask(await asyncio.to_thread(self.client, session, "batch"))
        self._tasks[key] = task
        try:
            try:
                staged = await self.stage(s3, task_frame, parent_frames, key)
            except Exception as exc:
                return self.staging_failure(exc, start)
            try:
                return await self._submit_and_wait(task, s3, staged, key, start)
            finally:
                await self.clean_up(s3, staged)
        finally:
            if self._tasks.get(key) is task:
                del self._tasks[key]

    async def cancel(self, task_metadata: dict[str, Any]) -> bool:
        """Terminate the task's job (TerminateJob); False if this executor is not running that task."""
        task = self._tasks.get(task_key(task_metadata, None))
        if task is None:
            return False
        task.cancelled.set()
        if task.job_id is None:
            return True  # not submitted yet: run() will not submit it
        return await self._terminate_job(task, "cancelled by covalent-nb")

    def submit_request(self, staged: StagedTask, key: TaskKey) -> dict[str, Any]:
        """The SubmitJob parameters for a staged task."""
        command = [TASK_COMMAND, "--bucket", staged.bucket, "--task-key", staged.task_key,
                   "--result-key", staged.result_key]
        for parent_key in staged.parent_keys:
            command += ["--parent-key", parent_key]
        name = _JOB_NAME_UNSAFE.sub("_", f"covalent-nb-{key[0]}-{key[1]}")[:128]
        return {
            "jobName": name,
            "jobQueue": self.job_queue,
            "jobDefinition": self.job_definition,
            "containerOverrides": {
                "command": command,
                "resourceRequirements": [{"type": "VCPU", "value": str(self.vcpus)},
                                         {"type": "MEMORY", "value": str(self.memory)}],
            },
            "timeout": {"attemptDurationSeconds": max(60, self.timeout)},
        }

    # -- the steps that talk to AWS Batch (blocking; called in threads) ---------------------------

    def _submit(self, batch: Any, request: dict[str, Any]) -> str:
        """Submit the job; returns its id."""
        return batch.submit_job(**request)["jobId"]

    def _job_state(self, batch: Any, job_id: str) -> JobState:
        """The job's current status (DescribeJobs); tests that cannot run Batch jobs replace it."""
        jobs = batch.describe_jobs(jobs=[job_id]).get("jobs") or []
        if not jobs:
            return JobState("FAILED", f"AWS Batch no longer knows the job {job_id}")
        job = jobs[0]
        container = job.get("container") or {}
        return JobState(job.get("status", ""), job.get("statusReason") or container.get("reason") or "",
                        container.get("exitCode"), container.get("logStreamName") or "")

    def _terminate(self, batch: Any, job_id: str, reason: str) -> None:
        """Terminate the job (TerminateJob)."""
        batch.terminate_job(jobId=job_id, reason=reason)

    # -- waiting ---------------------------------------------------------------------------------

    async def _submit_and_wait(self, task: _BatchTask, s3: Any, staged: StagedTask,
                               key: TaskKey, start: float) -> bytes:
        if task.cancelled.is_set():
            return failed_frame("the task was cancelled before its AWS Batch job was submitted", start)
        try:
            task.job_id = await asyncio.to_thread(self._submit, task.batch, self.submit_request(staged, key))
        except Exception as exc:
            return failed_frame(
                f"{self._label()} could not submit the task to job queue {self.job_queue!r} with job "
                f"definition {self.job_definition!r}: {describe_aws_error(exc)}. Check both names and that "
                "the dispatcher's credentials allow batch:SubmitJob (see docs/aws.md)", start)
        try:
            outcome = await self._wait(task)
        except asyncio.CancelledError:
            await self._terminate_job(task, "the covalent-nb dispatcher stopped waiting for the task")
            raise
        if isinstance(outcome, str):
            return failed_frame(outcome, start)
        try:
            result = await self.fetch_result(s3, staged)
        except Exception as exc:
            return failed_frame(f"{self._label()} could not read the task's result at "
                                f"{staged.url(staged.result_key)}: {describe_aws_error(exc)}", start)
        if result is not None:
            return result
        return failed_frame(self._no_result_message(task.job_id, outcome, staged), start)

    async def _wait(self, task: _BatchTask) -> JobState | str:
        """Poll until the job stops; a string explains why waiting ended otherwise (cancel, timeout)."""
        assert task.job_id is not None
        deadline = time.monotonic() + self.timeout
        intervals = poll_intervals(float(self.poll_freq))
        state = JobState("SUBMITTED")
        while True:
            if task.cancelled.is_set():
                await self._terminate_job(task, "cancelled by covalent-nb")
                return f"the task was cancelled: its AWS Batch job {task.job_id} was terminated"
            try:
                state = await asyncio.to_thread(self._job_state, task.batch, task.job_id)
            except Exception as exc:
                await self._terminate_job(task, "covalent-nb lost track of the job")
                return (f"{self._label()} could not read the status of AWS Batch job {task.job_id} "
                        f"({describe_aws_error(exc)}); the job was terminated. Check that the dispatcher's "
                        "credentials allow batch:DescribeJobs (see docs/aws.md)")
            if state.status in _STOPPED:
                return state
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                await self._terminate_job(task, f"timed out after {self.timeout} s")
                return (f"the AWS Batch job {task.job_id} did not finish within the executor's timeout of "
                        f"{self.timeout} s (last status {state.status}); it was terminated")
            try:
                await asyncio.wait_for(task.cancelled.wait(), min(next(intervals), remaining))
            except asyncio.TimeoutError:
                pass

    async def _terminate_job(self, task: _BatchTask, reason: str) -> bool:
        """Terminate the task's job once; False (and a log line) if AWS refused."""
        if task.job_id is None or task.terminated:
            return task.terminated
        try:
            await asyncio.shield(asyncio.to_thread(self._terminate, task.batch, task.job_id, reason))
        except Exception as exc:
            logger.warning("%s could not terminate AWS Batch job %s: %s",
                           self._label(), task.job_id, describe_aws_error(exc))
            return False
        task.terminated = True
        return True

    def _no_result_message(self, job_id: str | None, state: JobState, staged: StagedTask) -> str:
        where = staged.url(staged.result_key)
        if state.status == "SUCCEEDED":
            return (f"the AWS Batch job {job_id} succeeded without writing a result at {where}; does the job "
                    f"definition {self.job_definition!r} run an image with covalent-nb installed?")
        message = f"the AWS Batch job {job_id} failed without writing a result at {where}"
        details = [f"reason: {state.reason}"] if state.reason else []
        if state.exit_code is not None:
            details.append(f"exit code {state.exit_code}")
        if state.log_stream:
            details.append(f"its output is in the CloudWatch log stream {state.log_stream}")
        return message + (f" ({'; '.join(details)})" if details else "")
