"""What the AWS executors share: settings checks, boto3 sessions, staging steps, failed frames.

boto3 is imported only when a task runs, so the executor classes can be
built (and travel in a dispatch) where boto3 is not installed. Credentials
come from boto3's usual chain (environment, shared config and
credentials files, ``profile``, instance or task roles); none is ever part of
an executor's settings, so none travels with a dispatch.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, ClassVar

from covalent_nb.errors import ExecutorError
from covalent_nb.executor.aws import staging
from covalent_nb.executor.base import AsyncBaseExecutor, TaskKey, failed_frame

__all__ = ["S3StagedExecutor", "describe_aws_error"]

logger = logging.getLogger(__name__)

"""``(dispatch_id, node_id)``: how an executor finds the state of one of its running tasks."""


def describe_aws_error(exc: BaseException) -> str:
    """A one-line account of a boto3/botocore error (or any exception)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and "Error" in response:
        error = response["Error"]
        return f"{error.get('Code', type(exc).__name__)}: {error.get('Message', exc)}"
    return f"{type(exc).__name__}: {exc}"


class S3StagedExecutor(AsyncBaseExecutor):
    """Base of executors that stage each task in S3 and run it in AWS.

    Subclasses declare ``attributes`` including ``s3_bucket_name``, ``region``,
    ``profile``, ``endpoint_url`` and ``s3_prefix``, list their mandatory
    string settings in ``required_settings``, and implement :meth:`run`.
    """

    required_settings: ClassVar[tuple[str, ...]] = ()
    s3_bucket_name: str
    region: str
    profile: str
    endpoint_url: str
    s3_prefix: str

    def check_settings(self) -> None:
        """Raise ExecutorError naming the first required setting that is empty."""
        for name in self.required_settings:
            value = getattr(self, name, None)
            if value is None or value == "" or (isinstance(value, str) and not value.strip()):
                raise ExecutorError(
                    f"{self._label()} needs the setting {name!r}: pass {name}=... to "
                    f"{type(self).__name__}(...) or set it in the [executors.{self.short_name}] "
                    "section of covalent.conf"
                )

    async def setup(self, task_metadata: dict[str, Any]) -> None:
        """Check that every required setting is given (no AWS call is made)."""
        self.check_settings()

    def session(self) -> Any:
        """A new boto3 session for ``profile`` and ``region`` (empty means boto3's defaults)."""
        try:
            import boto3
        except ImportError:
            raise ExecutorError(
                f"{self._label()} needs boto3 where the dispatcher runs: pip install 'covalent-nb[aws]'"
            ) from None

        try:
            return boto3.Session(profile_name=self.profile or None, region_name=self.region or None)
        except Exception as exc:  # botocore's ProfileNotFound and kin
            raise ExecutorError(
                f"{self._label()} could not open an AWS session (profile {self.profile or '(default)'!r}, "
                f"region {self.region or '(default)'!r}): {describe_aws_error(exc)}"
            ) from None

    def client(self, session: Any, service: str, **config: Any) -> Any:
        """A boto3 client for ``service`` at ``endpoint_url`` (when set); ``config`` goes to botocore's Config."""
        from botocore.config import Config

        return session.client(service, endpoint_url=self.endpoint_url or None,
                              config=Config(**config) if config else None)

    async def stage(self, s3: Any, task_frame: bytes, parent_frames: list[bytes],
                    key: TaskKey) -> staging.StagedTask:
        """Upload the task to a fresh folder under ``s3_prefix`` (in a thread)."""
        folder = staging.task_folder(self.s3_prefix, key[0], key[1])
        return await asyncio.to_thread(staging.stage_task, s3, self.s3_bucket_name, folder,
                                       task_frame, parent_frames)

    async def fetch_result(self, s3: Any, staged: staging.StagedTask) -> bytes | None:
        """The result frame the task side wrote, or None (in a thread)."""
        return await asyncio.to_thread(staging.fetch_result, s3, staged)

    async def clean_up(self, s3: Any, staged: staging.StagedTask) -> None:
        """Delete the task's staged objects; a failure is logged, never raised."""
        try:
            await asyncio.shield(asyncio.to_thread(staging.delete_staged, s3, staged))
        except Exception as exc:
            logger.warning("%s could not delete the staged task at %s: %s",
                           self._label(), staged.url(), describe_aws_error(exc))

    def staging_failure(self, exc: BaseException, start: float) -> bytes:
        """The FAILED frame for a task that could not be staged in S3."""
        bucket = f"s3://{self.s3_bucket_name}/{self.s3_prefix.strip('/')}"
        return failed_frame(
            f"{self._label()} could not stage the task in {bucket}: {describe_aws_error(exc)}. "
            "Check that the bucket exists in the configured region and that the dispatcher's AWS "
            "credentials allow s3:PutObject there (see docs/aws.md)", start)
