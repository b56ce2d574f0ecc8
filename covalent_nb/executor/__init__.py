"""Executors: where and how tasks run.

``BaseExecutor``/``AsyncBaseExecutor`` are the seam every executor implements;
``LocalExecutor`` and ``DaskExecutor`` are built in; ``executor_class`` and
``executor_from_spec`` find executors (plugins included) by short name.
Names load on first use, so importing this package stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from covalent_nb._lazy import lazy_attributes

__all__ = [
    "AWSBatchExecutor",
    "AWSLambdaExecutor",
    "AsyncBaseExecutor",
    "BaseExecutor",
    "DaskExecutor",
    "LocalExecutor",
    "executor_class",
    "executor_from_spec",
]

_HOMES = {
    "AWSBatchExecutor": "covalent_nb.executor.aws.batch_executor",
    "AWSLambdaExecutor": "covalent_nb.executor.aws.lambda_executor",
    "AsyncBaseExecutor": "covalent_nb.executor.base",
    "BaseExecutor": "covalent_nb.executor.base",
    "DaskExecutor": "covalent_nb.executor.dask",
    "LocalExecutor": "covalent_nb.executor.local",
    "executor_class": "covalent_nb.executor.registry",
    "executor_from_spec": "covalent_nb.executor.registry",
}

if TYPE_CHECKING:
    from covalent_nb.executor.aws.batch_executor import AWSBatchExecutor
    from covalent_nb.executor.aws.lambda_executor import AWSLambdaExecutor
    from covalent_nb.executor.base import AsyncBaseExecutor, BaseExecutor
    from covalent_nb.executor.dask import DaskExecutor
    from covalent_nb.executor.local import LocalExecutor
    from covalent_nb.executor.registry import executor_class, executor_from_spec


__getattr__, __dir__ = lazy_attributes(__name__, _HOMES, __all__, globals())
