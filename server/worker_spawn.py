"""Dask worker processes that do not run their host's main script again.

Dask's nanny starts each worker process with multiprocessing's spawn method,
which runs the parent's main script or module again in the child (as
``__mp_main__``; only a package's ``__main__`` is left out). In a Jupyter
server the main script is ``jupyter-server``: every worker would import the
whole Jupyter server, which took each worker a second or more of a two-core
machine's start and about 35 MB, for nothing. Workers of covalent-nb's local
cluster need none of it: they run the task runner on functions pickled by
value.
"""

from __future__ import annotations

from typing import Any

__all__ = ["WORKER_PROCESS_NAME", "skip_host_main"]

WORKER_PROCESS_NAME = "Dask Worker process"
"""How Dask's nanny names the worker processes it starts (``"Dask Worker process (from Nanny)"``)."""


def skip_host_main() -> None:
    """From now on, processes named like Dask's workers are spawned without this process's main script.

    Done once per process, by wrapping ``multiprocessing.spawn.
    get_preparation_data`` (what a spawned child is told to set up before it
    runs): every other process is prepared exactly as before.
    """
    from multiprocessing import spawn

    original = spawn.get_preparation_data
    if getattr(original, "skips_host_main", False):
        return

    def get_preparation_data(name: str) -> dict[str, Any]:
        data = original(name)
        if name.startswith(WORKER_PROCESS_NAME):
            data.pop("init_main_from_path", None)  # a script
            data.pop("init_main_from_name", None)  # a module run with -m
        return data

    get_preparation_data.skips_host_main = True  # type: ignore[attr-defined]
    spawn.get_preparation_data = get_preparation_data
