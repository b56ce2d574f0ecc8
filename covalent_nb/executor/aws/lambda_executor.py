"""AWSLambdaExecutor: each task runs in one synchronous invocation of an AWS Lambda function.

The task is staged in S3 (see :mod:`covalent_nb.executor.aws.staging`), the
function (an image whose handler is
``covalent_nb.executor.aws.task_entry.lambda_handler``, see ``docs/aws.md``) is
invoked with the staged keys, and the result frame it wrote is fetched;
the staged objects are then deleted. A running invocation cannot be stopped,
so :meth:`AWSLambdaExecutor.cancel` returns False.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import time
from typing import Any, ClassVar

from covalent_nb.executor.aws.s3_executor import S3StagedExecutor, describe_aws_error
from covalent_nb.executor.aws.staging import StagedTask
from covalent_nb.executor.base import REQUIRED, failed_frame, task_key

__all__ = ["AWSLambdaExecutor", "LambdaReply"]

_CONNECT_TIMEOUT = 30


@dataclasses.dataclass(frozen=True)
class LambdaReply:
    """What one invocation answered: the function's error type (None if it returned), payload and log tail."""

    function_error: str | None
    payload: bytes
    log_tail: str = ""


class AWSLambdaExecutor(S3StagedExecutor):
    """Run each task in an AWS Lambda function.

    ``function_name`` and ``s3_bucket_name`` are required; ``region``,
    ``profile`` and ``endpoint_url`` (an S3/Lambda-compatible endpoint, empty
    for AWS) pick where; ``s3_prefix`` is the staging folder in the bucket;
    ``timeout`` (seconds) is how long to wait for one invocation.
    """

    short_name: ClassVar[str] = "awslambda"
    attributes: ClassVar[dict[str, tuple[Any, Any]]] = {
        "function_name": (str, REQUIRED),
        "s3_bucket_name": (str, REQUIRED),
        "region": (str, ""),
        "profile": (str, ""),
        "endpoint_url": (str, ""),
        "s3_prefix": (str, "covalent-nb"),
        "timeout": (int, 900),
    }
    required_settings: ClassVar[tuple[str, ...]] = ("function_name", "s3_bucket_name")
    function_name: str
    timeout: int

    async def run(self, task_frame: bytes, parent_frames: list[bytes], task_metadata: dict[str, Any]) -> bytes:
        """Stage the task, invoke the function, return the result frame it wrote, clean up."""
        self.check_settings()
        start = time.time()
        session = await asyncio.to_thread(self.session)
        s3 = await asyncio.to_thread(self.client, session, "s3")
        try:
            staged = await self.stage(s3, task_frame, parent_frames, task_key(task_metadata, task_frame))
        except Exception as exc:
            return self.staging_failure(exc, start)
        try:
            return await self._invoke_and_fetch(session, s3, staged, start)
        finally:
            await self.clean_up(s3, staged)

    async def _invoke_and_fetch(self, session: Any, s3: Any, staged: StagedTask, start: float) -> bytes:
        payload = {"bucket": staged.bucket, "task_key": staged.task_key, "result_key": staged.result_key}
        if staged.parent_keys:
            payload["parent_keys"] = list(staged.parent_keys)
        try:
            reply = await asyncio.to_thread(self._invoke, session, payload)
        except Exception as exc:
            return failed_frame(
                f"{self._label()} could not invoke the Lambda function {self.function_name!r}: "
                f"{describe_aws_error(exc)}. Check the function name and region and that the dispatcher's "
                "credentials allow lambda:InvokeFunction (see docs/aws.md)", start)
        if reply.function_error:
            return self._function_error_frame(reply, start)
        try:
            result = await self.fetch_result(s3, staged)
        except Exception as exc:
            return failed_frame(f"{self._label()} could not read the task's result at "
                                f"{staged.url(staged.result_key)}: {describe_aws_error(exc)}", start)
        if result is None:
            return failed_frame(
                f"the Lambda function {self.function_name!r} returned without writing a result at "
                f"{staged.url(staged.result_key)}; is its handler "
                "covalent_nb.executor.aws.task_entry.lambda_handler? It answered: "
                f"{reply.payload[:500].decode(errors='replace')}", start, stderr=reply.log_tail)
        return result

    def _invoke(self, session: Any, payload: dict[str, Any]) -> LambdaReply:
        """Invoke the function synchronously (RequestResponse) and read its reply; blocks.

        This is the one step that needs the Lambda service to run code; tests
        that cannot run Lambda replace it.
        """
        client = self.client(session, "lambda", read_timeout=self.timeout + _CONNECT_TIMEOUT,
                             connect_timeout=_CONNECT_TIMEOUT, retries={"total_max_attempts": 1})
        response = client.invoke(FunctionName=self.function_name, InvocationType="RequestResponse",
                                 LogType="Tail", Payload=json.dumps(payload).encode())
        log_tail = ""
        if response.get("LogResult"):
            log_tail = base64.b64decode(response["LogResult"]).decode(errors="replace")
        return LambdaReply(response.get("FunctionError"), response["Payload"].read(), log_tail)

    def _function_error_frame(self, reply: LambdaReply, start: float) -> bytes:
        try:
            body = json.loads(reply.payload)
        except ValueError:
            body = None
        if isinstance(body, dict) and "errorMessage" in body:
            error = f"{body.get('errorType') or 'Error'}: {body['errorMessage']}"
            stack = body.get("stackTrace") or []
            traceback = "".join(line if isinstance(line, str) else str(line) for line in stack) or None
        else:
            error, traceback = reply.payload[:2000].decode(errors="replace") or reply.function_error, None
        return failed_frame(f"the Lambda function {self.function_name!r} failed ({reply.function_error}) "
                            f"before the task's result was written: {error}", start,
                            stderr=reply.log_tail, traceback=traceback)
