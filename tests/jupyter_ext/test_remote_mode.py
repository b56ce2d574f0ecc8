"""Kernels of a Jupyter server that runs no dispatcher of its own.

Remote mode (``--CovalentNB.dispatcher_url``) points kernels at a standalone
covalent-nb server or at another Jupyter server's extension; a Jupyter server
without the extension leaves kernels to the client's config file. In every
case the dispatch is checked on the dispatcher that really ran it.
"""

from __future__ import annotations

import textwrap
from typing import Iterator

import pytest

from tests.conftest import RunningServer, start_server

from .jupyter_process import JupyterServer, http_request, running_jupyter
from .kernel_client import KernelClient

WORKFLOW = textwrap.dedent("""
    import covalent_nb as ct

    @ct.electron
    def square(x):
        return x * x

    @ct.electron
    def total(values):
        return sum(values)

    @ct.lattice
    def sum_of_squares(n):
        return total([square(i) for i in range(1, n + 1)])

    dispatch_id = ct.dispatch(sum_of_squares)(4)
    result = ct.get_result(dispatch_id, wait=True)
    print("dispatch id:", dispatch_id)
    print("result:", result.status, result.result)
""")


@pytest.fixture(scope="module")
def standalone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A standalone covalent-nb server started through the CLI."""
    running = start_server(tmp_path_factory.mktemp("standalone"))
    yield running
    running.cli("stop")


def _dispatch_in_a_kernel(jupyter: JupyterServer) -> str:
    """Run WORKFLOW in a new kernel of ``jupyter``; returns the dispatch id after checking the result."""
    kernel: KernelClient = jupyter.start_kernel()
    try:
        outcome = kernel.execute(WORKFLOW, timeout=60)
    finally:
        kernel.shutdown()
    assert outcome.error is None, f"{outcome}\n--- server log ---\n{jupyter.log()}"
    assert "result: COMPLETED 30" in outcome.stdout, outcome
    return outcome.stdout.split("dispatch id:", 1)[1].split()[0]


def _assert_completed_on(api_url: str, token: str, dispatch_id: str) -> None:
    """The dispatch is recorded as COMPLETED by the dispatcher whose API is at ``api_url``."""
    answer = http_request(f"{api_url}api/v1/dispatches/{dispatch_id}?status_only=1", token=token)
    assert answer.status == 200, answer
    assert answer.json() == {"id": dispatch_id, "status": "COMPLETED"}


def test_remote_mode_dispatches_to_a_standalone_server(tmp_path_factory: pytest.TempPathFactory,
                                                       standalone: RunningServer) -> None:
    args = (f"--CovalentNB.dispatcher_url=http://127.0.0.1:{standalone.port}/",
            f"--CovalentNB.dispatcher_token={standalone.token}")
    with running_jupyter(tmp_path_factory.mktemp("jupyter_remote"), args) as jupyter:
        dispatch_id = _dispatch_in_a_kernel(jupyter)
        _assert_completed_on(f"http://127.0.0.1:{standalone.port}/", standalone.token, dispatch_id)
        assert jupyter.get("covalent/api/v1/health").status == 404  # no local dispatcher
        assert not (jupyter.root / "covalent_data" / "jupyter").exists()


def test_remote_mode_dispatches_to_another_jupyter_servers_extension(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    with running_jupyter(tmp_path_factory.mktemp("jupyter_host")) as host:
        args = (f"--CovalentNB.dispatcher_url={host.url}covalent/", f"--CovalentNB.dispatcher_token={host.token}")
        with running_jupyter(tmp_path_factory.mktemp("jupyter_pointing"), args) as pointing:
            dispatch_id = _dispatch_in_a_kernel(pointing)
            _assert_completed_on(f"{host.url}covalent/", host.token, dispatch_id)
            assert pointing.get("covalent/api/v1/health").status == 404
            assert pointing.get(f"covalent/api/v1/dispatches/{dispatch_id}").status == 404


def test_kernel_without_the_extension_uses_the_client_config(tmp_path_factory: pytest.TempPathFactory,
                                                             standalone: RunningServer) -> None:
    with running_jupyter(tmp_path_factory.mktemp("jupyter_plain"), extension=False) as jupyter:
        config_file = jupyter.root / "covalent_config" / "covalent.conf"
        config_file.write_text(f'[dispatcher]\naddress = "127.0.0.1"\nport = {standalone.port}\n'
                               f'token = "{standalone.token}"\n')
        assert jupyter.get("covalent/api/v1/health").status == 404  # the extension is not loaded
        dispatch_id = _dispatch_in_a_kernel(jupyter)
        _assert_completed_on(f"http://127.0.0.1:{standalone.port}/", standalone.token, dispatch_id)
