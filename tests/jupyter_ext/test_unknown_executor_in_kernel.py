"""A mistyped executor name in a real kernel: the warning shows in the cell's output at once.

A real Jupyter server with covalent-nb's extension (the dispatcher inside it)
and a real kernel, driven over its websocket; the warning must reach the
cell's stderr, both for ``ct.dispatch`` and for a ``%%covalent`` cell, every
time the cell runs.
"""

from __future__ import annotations

import textwrap
from typing import Iterator

import pytest

from .jupyter_process import JupyterServer, running_jupyter
from .kernel_client import KernelClient, Outcome

WORKFLOW = """
    import covalent_nb as ct

    @ct.electron(executor="dask_typo")
    def square(x):
        return x * x

    @ct.electron
    def double(x):
        return 2 * x

    @ct.lattice
    def two_branches(x):
        square(x)
        return double(x)
"""

WARNING = "UserWarning: dispatch {id}: unknown executor 'dask_typo' on task 'square' (node 1); this server offers: "


@pytest.fixture(scope="module")
def jupyter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    """A Jupyter server with covalent-nb's extension, nothing configured."""
    with running_jupyter(tmp_path_factory.mktemp("jupyter_unknown_executor")) as server:
        yield server


@pytest.fixture
def kernel(jupyter: JupyterServer) -> Iterator[KernelClient]:
    """A fresh kernel with the magics loaded and the workflow defined."""
    client = jupyter.start_kernel()
    try:
        for code in ("%load_ext covalent_nb", WORKFLOW):
            outcome = client.execute(textwrap.dedent(code))
            assert outcome.error is None, outcome
        yield client
    finally:
        client.shutdown()


def run(kernel: KernelClient, code: str) -> Outcome:
    outcome = kernel.execute(textwrap.dedent(code).lstrip("\n"), timeout=90)
    assert outcome.error is None, outcome
    return outcome


def test_dispatch_shows_the_warning_every_time(kernel: KernelClient) -> None:
    for _ in range(2):  # the same cell again warns again
        outcome = run(kernel, """
            dispatch_id = ct.dispatch(two_branches)(3)
            print(dispatch_id)
        """)
        dispatch_id = outcome.stdout.strip()
        assert WARNING.format(id=dispatch_id) in outcome.stderr, outcome
        assert "did you mean 'dask'?" in outcome.stderr
    outcome = run(kernel, """
        result = ct.get_result(dispatch_id, wait=True)
        print(result.status, {n["node_name"]: str(n["status"]) for n in result.get_all_node_results()})
    """)
    assert "FAILED" in outcome.stdout and "'square': 'FAILED'" in outcome.stdout
    assert "'double': 'COMPLETED'" in outcome.stdout


def test_a_covalent_cell_shows_the_warning(kernel: KernelClient) -> None:
    outcome = run(kernel, """
        %%covalent --executor dask_typo -o typo_run
        d = double(4)
    """)
    assert "UserWarning: dispatch " in outcome.stderr, outcome
    # the cell's electron and the task that gathers the cell's names both take the cell's executor
    assert "unknown executor 'dask_typo' on tasks 'double' (node " in outcome.stderr, outcome.stderr
    assert "did you mean 'dask'?" in outcome.stderr
    outcome = run(kernel, """
        print(ct.get_result(typo_run.dispatch_id, wait=True).status)
    """)
    assert outcome.stdout.strip() == "FAILED"
