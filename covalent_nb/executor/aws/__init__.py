"""AWS executors: tasks staged in S3 and run in AWS Lambda or AWS Batch (boto3; the ``aws`` extra).

``AWSLambdaExecutor`` (short name ``awslambda``) and ``AWSBatchExecutor``
(``awsbatch``) are the dispatcher-side halves; ``task_entry`` is the task
side (the ``covalent-nb-aws-task`` command and the Lambda handler). Names
load on first use, so importing this package needs neither boto3 nor the
executors' modules. Deployment: ``docs/aws.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from covalent_nb._lazy import lazy_attributes

__all__ = ["AWSBatchExecutor", "AWSLambdaExecutor"]

_HOMES = {
    "AWSBatchExecutor": "covalent_nb.executor.aws.batch_executor",
    "AWSLambdaExecutor": "covalent_nb.executor.aws.lambda_executor",
}

if TYPE_CHECKING:
    from covalent_nb.executor.aws.batch_executor import AWSBatchExecutor
    from covalent_nb.executor.aws.lambda_executor import AWSLambdaExecutor


__getattr__, __dir__ = lazy_attributes(__name__, _HOMES, __all__, globals())
