"""The test playing an AWS service that cannot run here (moto runs Lambda and Batch code only in Docker).

Both stand-ins run the shipped task side (:mod:`covalent_nb.executor.aws.task_entry`)
for real against moto's S3, exactly as the service would: Lambda calls
``lambda_handler`` with the invocation payload, a Batch container runs the
submitted command.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import traceback
from typing import Any, Sequence

from covalent_nb.executor.aws import task_entry
from covalent_nb.executor.aws.lambda_executor import LambdaReply


def bucket_keys(s3: Any, bucket: str) -> list[str]:
    """Every key in ``bucket``, sorted."""
    return sorted(item["Key"] for item in s3.list_objects_v2(Bucket=bucket).get("Contents", ()))


def play_lambda(payload: dict[str, Any]) -> LambdaReply:
    """Answer an invocation as AWS Lambda would: run the handler; an exception becomes a function error.

    The handler finds moto through ``AWS_ENDPOINT_URL`` (set by the test).
    """
    try:
        answer = task_entry.lambda_handler(json.loads(json.dumps(payload)), None)
    except Exception as exc:
        body = {"errorMessage": str(exc), "errorType": type(exc).__name__,
                "stackTrace": traceback.format_tb(exc.__traceback__)}
        return LambdaReply("Unhandled", json.dumps(body).encode(), "handler log line\n")
    return LambdaReply(None, json.dumps(answer).encode(), "")


def play_batch_container(command: Sequence[str], endpoint: str) -> subprocess.CompletedProcess:
    """Run a submitted job's command as its container would, in a real subprocess.

    ``covalent-nb-aws-task`` is the console script of ``task_entry.main``; it is
    run as ``python -m`` so that the test does not depend on where scripts are installed.
    """
    assert command[0] == "covalent-nb-aws-task"
    env = dict(os.environ, AWS_ENDPOINT_URL=endpoint)
    return subprocess.run([sys.executable, "-m", "covalent_nb.executor.aws.task_entry", *command[1:]],
                          env=env, capture_output=True, text=True, timeout=120)
