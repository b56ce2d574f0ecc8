"""What the AWS executors share: required settings, boto3 sessions, failed frames."""

from __future__ import annotations

import asyncio

import pytest

from covalent_nb._frames import unpack
from covalent_nb.errors import ExecutorError
from covalent_nb.executor.aws.lambda_executor import AWSLambdaExecutor
from covalent_nb.executor.aws.s3_executor import describe_aws_error
from covalent_nb.executor.base import failed_frame, task_key

from ..taskframes import task_frame


def test_an_empty_required_setting_is_named_with_where_to_set_it() -> None:
    ex = AWSLambdaExecutor(function_name="f", s3_bucket_name="  ")
    with pytest.raises(ExecutorError, match=r"needs the setting 's3_bucket_name'.*\[executors\.awslambda\]"):
        asyncio.run(ex.run(task_frame(len, "x"), [], {"dispatch_id": "d", "node_id": 0}))


def test_an_unknown_profile_is_an_executor_error() -> None:
    ex = AWSLambdaExecutor(function_name="f", s3_bucket_name="b", profile="no-such-profile")
    with pytest.raises(ExecutorError, match="could not open an AWS session \\(profile 'no-such-profile'"):
        ex.session()


def test_the_session_uses_the_region_setting() -> None:
    named = {"function_name": "f", "s3_bucket_name": "b"}
    assert AWSLambdaExecutor(region="eu-west-3", **named).session().region_name == "eu-west-3"
    assert AWSLambdaExecutor(**named).session().region_name == "us-east-1"  # boto3's chain: AWS_DEFAULT_REGION


def test_failed_frame_has_the_result_frame_fields() -> None:
    meta, blobs = unpack(failed_frame("it broke", 10.0, stderr="log"))
    assert meta["status"] == "FAILED" and meta["error"] == "it broke" and meta["stderr"] == "log"
    assert meta["output"] is None and meta["start_time"] == 10.0 and meta["end_time"] >= 10.0
    assert blobs == {}


def test_describe_aws_error_prefers_the_service_code() -> None:
    from botocore.exceptions import ClientError

    exc = ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "PutObject")
    assert describe_aws_error(exc) == "AccessDenied: no"
    assert describe_aws_error(OSError("disk")) == "OSError: disk"


def test_task_key_falls_back_to_the_frame_header() -> None:
    frame = task_frame(len, "x", dispatch_id="from-frame", node_id=4)
    assert task_key({}, frame) == ("from-frame", 4)
    assert task_key({"dispatch_id": "meta", "node_id": 1}, frame) == ("meta", 1)
