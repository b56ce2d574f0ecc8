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

__version__ = "0.1.0"  # the one version string: pyproject.toml reads it (tool.hatch.version)

from typing import Any

from covalent_nb._lazy import lazy_attributes

from covalent_nb._status import Status

#: Covalent's status constants: ``ct.status.COMPLETED == "COMPLETED"``.
status = Status

# Public names and the modules they live in, imported on first use so that
# the CLI and task processes start fast (the workflow model needs networkx).
_LAZY = {
    "executor": "covalent_nb.executor",
    "get_config": "covalent_nb._config",
    "reload_config": "covalent_nb._config",
    "set_config": "covalent_nb._config",
    "cancel": "covalent_nb.client",
    "delete": "covalent_nb.client",
    "dispatch": "covalent_nb.client",
    "dispatch_sync": "covalent_nb.client",
    "get_result": "covalent_nb.client",
    "redispatch": "covalent_nb.client",
    "Result": "covalent_nb.result",
    "DepsBash": "covalent_nb.workflow",
    "DepsCall": "covalent_nb.workflow",
    "DepsPip": "covalent_nb.workflow",
    "Electron": "covalent_nb.workflow",
    "Lattice": "covalent_nb.workflow",
    "electron": "covalent_nb.workflow",
    "lattice": "covalent_nb.workflow",
    "wait": "covalent_nb.workflow",
    **{name: "covalent_nb.errors" for name in (
        "AuthenticationError", "CovalentNBError", "DispatcherError", "DispatcherUnreachableError",
        "DispatchNotFoundError", "ExecutorError", "GraphBuildError", "SerializationError")},
}




def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext covalent_nb``: register the ``%%covalent`` and ``%covalent`` magics."""
    from covalent_nb.notebook.magics import load_ipython_extension as load

    load(ipython)


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
    "delete",
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

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, __all__, globals())
