"""The task side of the AWS executors: run a task staged in S3, write its result next to it.

In an AWS Batch container it runs as the console script (the command the
Batch executor submits)::

    covalent-nb-aws-task --bucket B --task-key K --result-key R [--parent-key P ...] [--endpoint-url URL]

In AWS Lambda the function's handler is
``covalent_nb.executor.aws.task_entry.lambda_handler``, invoked with
``{"bucket": B, "task_key": K, "result_key": R, "parent_keys": [...]}``.

Both download the task frame, run it with
:func:`covalent_nb.executor.runner.run_task` and upload the result frame,
which carries the task's status, output, stdout/stderr and error. A task that
fails still yields a result (a FAILED frame): only a failure to read or write
S3 is an error here (exit code 1, or an exception that Lambda reports as a
function error). The S3 endpoint is ``--endpoint-url``, else the environment
variable ``AWS_ENDPOINT_URL``, else AWS's own.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Sequence

from covalent_nb._frames import unpack_meta
from covalent_nb.executor.runner import run_task

__all__ = ["lambda_handler", "main", "run_staged_task"]

ENDPOINT_ENV = "AWS_ENDPOINT_URL"


def s3_client(endpoint_url: str | None = None) -> Any:
    """An S3 client from boto3's default chain, at ``endpoint_url`` or ``$AWS_ENDPOINT_URL`` when set."""
    import boto3

    return boto3.client("s3", endpoint_url=endpoint_url or os.environ.get(ENDPOINT_ENV) or None)


def run_staged_task(s3: Any, bucket: str, task_key: str, result_key: str,
                    parent_keys: Sequence[str] = ()) -> str:
    """Download the task (and parent) frames, run the task, upload the result; returns its status.

    botocore errors (a missing object, no access) propagate: they are staging
    failures, not task failures.
    """
    frames = [s3.get_object(Bucket=bucket, Key=key)["Body"].read() for key in [task_key, *parent_keys]]
    result = run_task(*frames)
    s3.put_object(Bucket=bucket, Key=result_key, Body=result)
    return str(unpack_meta(result).get("status"))


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """AWS Lambda entry point: run the staged task named by ``event``; returns its status and result key."""
    missing = [name for name in ("bucket", "task_key", "result_key") if not event.get(name)]
    if missing:
        raise ValueError(f"the invocation event lacks {', '.join(missing)}; "
                         "expected {'bucket': ..., 'task_key': ..., 'result_key': ...}")
    status = run_staged_task(s3_client(), event["bucket"], event["task_key"],
                             event["result_key"], tuple(event.get("parent_keys") or ()))
    return {"status": status, "result_key": event["result_key"]}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="covalent-nb-aws-task",
        description="Run a covalent-nb task staged in S3 and upload its result frame next to it.")
    parser.add_argument("--bucket", required=True, help="the S3 bucket holding the staged task")
    parser.add_argument("--task-key", required=True, help="the key of the staged task frame")
    parser.add_argument("--result-key", required=True, help="the key to write the result frame to")
    parser.add_argument("--parent-key", action="append", default=[],
                        help="the key of a parent's result frame (repeat, in order)")
    parser.add_argument("--endpoint-url", default=None,
                        help=f"an S3-compatible endpoint (default: ${ENDPOINT_ENV}, else AWS)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """The ``covalent-nb-aws-task`` command; 0 once a result is uploaded (even a FAILED one), else 1."""
    args = _parser().parse_args(argv)
    try:
        status = run_staged_task(s3_client(args.endpoint_url), args.bucket, args.task_key,
                                 args.result_key, args.parent_key)
    except Exception as exc:  # botocore's errors, a malformed response: the task never ran or was lost
        print(f"covalent-nb-aws-task: staging failed for s3://{args.bucket}/{args.task_key}: "
              f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(f"covalent-nb-aws-task: task finished {status}; result at s3://{args.bucket}/{args.result_key}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
