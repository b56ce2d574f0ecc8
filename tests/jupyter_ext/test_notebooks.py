"""The notebooks run top to bottom in a kernel of a Jupyter server with the extension, unconfigured.

One real ``jupyter server`` (the extension enabled, its own empty config and
data dirs) serves every test here; kernels are started through its REST API
and driven over the kernel websocket. Dispatches outlive the kernels that
made them, because the dispatcher lives in the server.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Iterator

import nbformat
import pytest

from .jupyter_process import JupyterServer, running_jupyter
from .kernel_client import KernelClient, Outcome

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
DISPATCH_ID = re.compile(r"dispatch id: (\S+)")

SLOW_WORKFLOW = textwrap.dedent("""
    import time
    import covalent_nb as ct

    @ct.electron
    def slow_double(x, seconds):
        time.sleep(seconds)
        return 2 * x

    @ct.lattice
    def slow_workflow(x, seconds):
        return slow_double(x, seconds)

    dispatch_id = ct.dispatch(slow_workflow)(21, 3)
    print("dispatch id:", dispatch_id)
    print("status now:", ct.get_result(dispatch_id, status_only=True)["status"])
""")


@pytest.fixture(scope="module")
def jupyter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    """A Jupyter server with covalent-nb's extension and nothing configured."""
    with running_jupyter(tmp_path_factory.mktemp("jupyter_nb")) as server:
        yield server


@pytest.fixture
def kernel(jupyter: JupyterServer) -> Iterator[KernelClient]:
    """A fresh kernel, shut down after the test."""
    client = jupyter.start_kernel()
    yield client
    client.shutdown()


def run_notebook(kernel: KernelClient, path: Path, jupyter: JupyterServer) -> str:
    """Execute every code cell of ``path`` in order; fails on the first cell error; returns all stdout."""
    notebook = nbformat.read(path, as_version=4)
    printed = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        outcome = kernel.execute(cell.source, timeout=60)
        assert outcome.error is None, (f"{path.name} cell {index} failed:\n{cell.source}\n{outcome}\n"
                                       f"--- server log ---\n{jupyter.log()}")
        printed.append(outcome.stdout + "".join(outcome.results))
    return "\n".join(printed)


def checked(outcome: Outcome, jupyter: JupyterServer) -> Outcome:
    """``outcome``, asserting that the code did not raise."""
    assert outcome.error is None, f"{outcome}\n--- server log ---\n{jupyter.log()}"
    return outcome


def test_kernel_finds_the_dispatcher_through_the_extension(jupyter: JupyterServer, kernel: KernelClient) -> None:
    outcome = checked(kernel.execute(textwrap.dedent("""
        from covalent_nb import _config
        from covalent_nb.client.discovery import locate_dispatcher
        print("config file exists:", _config.config_path().exists())
        where = locate_dispatcher()
        print("source:", where.source)
        print("url:", where.url)
        print("token matches:", where.token == %r)
    """ % jupyter.token)), jupyter)
    assert "config file exists: False" in outcome.stdout
    assert "source: the Jupyter server extension" in outcome.stdout
    assert f"url: {jupyter.url}covalent/" in outcome.stdout
    assert "token matches: True" in outcome.stdout


def test_quickstart_runs_top_to_bottom(jupyter: JupyterServer, kernel: KernelClient) -> None:
    printed = run_notebook(kernel, NOTEBOOKS / "quickstart.ipynb", jupyter)
    assert DISPATCH_ID.search(printed), printed
    assert "status: COMPLETED\nresult: 35" in printed
    assert re.search(r"\d+\s+multiply\s+COMPLETED\s+35", printed), printed  # the per-task table
    assert "sum of squares: 385" in printed
    assert "tasks run: 10" in printed
    assert "status: FAILED" in printed
    assert "error: task(s) failed: divide" in printed
    assert re.search(r"\d+\s+divide\s+FAILED", printed), printed
    assert "ZeroDivisionError: division by zero" in printed


def test_migration_notebook_runs_top_to_bottom(jupyter: JupyterServer, kernel: KernelClient) -> None:
    printed = run_notebook(kernel, NOTEBOOKS / "covalent_migration.ipynb", jupyter)
    assert "COMPLETED\n[0.16666666666666666, 0.16666666666666666, 0.16666666666666666, 0.16666666666666666]" \
        in printed
    assert "COMPLETED 40" in printed  # DepsCall's value reached the task
    assert "stdout of scaled: preparing the environment" in printed  # DepsBash ran before it
    assert "COMPLETED 30" in printed  # the sublattice: 0 + 1 + 4 + 9 + 16


def test_migration_notebook_changes_only_the_import_line() -> None:
    notebook = nbformat.read(NOTEBOOKS / "covalent_migration.ipynb", as_version=4)
    code = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
    mentions = [line for line in code.splitlines() if "covalent_nb" in line]
    assert mentions == ["import covalent_nb as ct"]
    markdown = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown")
    assert "import covalent as ct" in markdown and "import covalent_nb as ct" in markdown


@pytest.mark.parametrize("name", ["quickstart.ipynb", "covalent_migration.ipynb"])
def test_notebooks_are_committed_without_outputs(name: str) -> None:
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(notebook)
    assert notebook.nbformat == 4
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source


def _dispatch_slow_workflow(kernel: KernelClient, jupyter: JupyterServer) -> str:
    outcome = checked(kernel.execute(SLOW_WORKFLOW), jupyter)
    found = DISPATCH_ID.search(outcome.stdout)
    assert found, outcome
    assert "status now: COMPLETED" not in outcome.stdout, "the workflow ended before the kernel went away"
    return found.group(1)


def _result_in(kernel: KernelClient, dispatch_id: str, jupyter: JupyterServer) -> str:
    return checked(kernel.execute(textwrap.dedent(f"""
        import covalent_nb as ct
        result = ct.get_result({dispatch_id!r}, wait=True)
        print(result.status, result.result)
    """)), jupyter).stdout


def test_dispatch_outlives_a_kernel_restart(jupyter: JupyterServer, kernel: KernelClient) -> None:
    dispatch_id = _dispatch_slow_workflow(kernel, jupyter)
    kernel.restart()
    forgotten = checked(kernel.execute("print('dispatch_id' in globals())"), jupyter)
    assert forgotten.stdout.strip() == "False"  # really a new kernel process
    assert _result_in(kernel, dispatch_id, jupyter).strip() == "COMPLETED 42"


def test_dispatch_outlives_its_kernel(jupyter: JupyterServer) -> None:
    first = jupyter.start_kernel()
    try:
        dispatch_id = _dispatch_slow_workflow(first, jupyter)
    finally:
        first.shutdown()
    second = jupyter.start_kernel()
    try:
        assert _result_in(second, dispatch_id, jupyter).strip() == "COMPLETED 42"
    finally:
        second.shutdown()


@pytest.mark.parametrize("dispatch_id", ["00000000-0000-4000-8000-000000000000", "no-such-dispatch"])
def test_unknown_dispatch_id_raises_a_clear_error(jupyter: JupyterServer, kernel: KernelClient,
                                                  dispatch_id: str) -> None:
    for wait in (False, True):
        outcome = kernel.execute(f"import covalent_nb as ct\nct.get_result({dispatch_id!r}, wait={wait})")
        assert outcome.error is not None, outcome
        first_line = outcome.error.splitlines()[0]
        assert first_line == f"DispatchNotFoundError: no dispatch with id {dispatch_id!r}", outcome.error


def test_api_health_needs_the_server_token(jupyter: JupyterServer) -> None:
    with_header = jupyter.get("covalent/api/v1/health")
    assert with_header.status == 200 and with_header.json()["status"] == "ok"
    in_query = jupyter.get(f"covalent/api/v1/health?token={jupyter.token}", token=None)
    assert in_query.status == 200
    assert jupyter.get("covalent/api/v1/health", token=None).status == 403
    assert jupyter.get("covalent/api/v1/health", token="not-the-token").status == 403
