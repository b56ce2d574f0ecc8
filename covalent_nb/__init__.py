"""covalent-nb: Covalent-compatible workflows, dispatched to a fast dispatcher.

Swap ``import covalent as ct`` for ``import covalent_nb as ct``::

    @ct.electron
    def add(x, y):
        return x + y

    @ct.lattice
    def workflow(a, b):
        return add(a, b)

    dispatch_id = ct.dispatch(workflow)(1, 2)
    print(ct.get_result(dispatch_id, wait=True).result)
"""

from __future__ import annotations

__version__ = "0.1.0"

from covalent_nb import executor
from covalent_nb._config import get_config, reload_config, set_config
from covalent_nb._status import Status
from covalent_nb.client import cancel, dispatch, dispatch_sync, get_result, redispatch
from covalent_nb.errors import (AuthenticationError, CovalentNBError, DispatcherError,
                                DispatcherUnreachableError, DispatchNotFoundError, ExecutorError,
                                GraphBuildError, SerializationError)
from covalent_nb.result import Result
from covalent_nb.workflow import (DepsBash, DepsCall, DepsPip, Electron, Lattice, electron,
                                  lattice, wait)

#: Covalent's status constants: ``ct.status.COMPLETED == "COMPLETED"``.
status = Status

__all__ = [
    "__version__",
    "AuthenticationError",
    "CovalentNBError",
    "DepsBash",
    "DepsCall",
    "DepsPip",
    "DispatchNotFoundError",
    "DispatcherError",
    "DispatcherUnreachableError",
    "Electron",
    "ExecutorError",
    "GraphBuildError",
    "Lattice",
    "Result",
    "SerializationError",
    "Status",
    "cancel",
    "dispatch",
    "dispatch_sync",
    "electron",
    "executor",
    "get_config",
    "get_result",
    "lattice",
    "redispatch",
    "reload_config",
    "set_config",
    "status",
    "wait",
]
