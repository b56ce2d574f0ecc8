"""Which dispatcher kernels of real Jupyter servers use, and what they are told about it.

Two servers share one data directory: the first runs the dispatcher, the
second's cannot start; it says so in one ERROR line with the fix, and its
kernels use the first one's dispatcher. A server whose data directory is held
by a process that answers nothing hands its kernels no address at all. The
in-server dispatcher wins over an address that is only in the config file,
and ``ct.set_config`` in the kernel wins over the extension. Errors never
quote an HTML page. A standalone server that holds the data directory is
found the same way.
"""

from __future__ import annotations

import dataclasses
import re
import textwrap
import time
from pathlib import Path
from typing import Iterator

import pytest

from covalent_nb.server.data_lock import DataDirLock
from tests.conftest import free_port, start_server

from .jupyter_process import JupyterServer, http_request, running_jupyter
from .kernel_client import KernelClient, Outcome

HOLDER_FOUND = "covalent-nb: kernels of this server use the dispatcher of process"
NOTHING_HANDED = "covalent-nb: kernels of this server get no dispatcher address from it"

WORKFLOW = textwrap.dedent("""
    import covalent_nb as ct

    @ct.electron
    def square(x):
        return x * x

    @ct.lattice
    def squared(x):
        return square(x)
""")


@dataclasses.dataclass
class SharedDataDir:
    """Two Jupyter servers on one covalent-nb data directory; ``first`` runs its dispatcher."""

    data_dir: Path
    first: JupyterServer
    second: JupyterServer
    dead_port: int
    """The port the first server's config file names as the dispatcher (nothing listens there)."""


def wait_for_log(server: JupyterServer, text: str, timeout: float = 60.0) -> str:
    """The server's log once it contains ``text`` (the extension decides after the server answers)."""
    deadline = time.monotonic() + timeout
    while text not in (log := server.log()):
        assert time.monotonic() < deadline, f"{text!r} not logged within {timeout} s:\n{log}"
        time.sleep(0.2)
    return log


def error_lines(server: JupyterServer) -> list[str]:
    return [line for line in server.log().splitlines() if line.startswith("[E ")]


def ok(outcome: Outcome, server: JupyterServer) -> Outcome:
    assert outcome.error is None, f"{outcome}\n--- server log ---\n{server.log()}"
    return outcome


def run(kernel: KernelClient, code: str, timeout: float = 120) -> Outcome:
    return kernel.execute(textwrap.dedent(code).lstrip("\n"), timeout=timeout)


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedDataDir]:
    root = tmp_path_factory.mktemp("shared_data_dir")
    data_dir = root / "covalent_data_shared"
    dead_port = free_port()
    config_dir = root / "first" / "covalent_config"
    config_dir.mkdir(parents=True)
    (config_dir / "covalent.conf").write_text(f'[dispatcher]\naddress = "127.0.0.1"\nport = {dead_port}\n')
    args = (f"--CovalentNB.data_dir={data_dir}",)
    with running_jupyter(root / "first", args) as first, running_jupyter(root / "second", args) as second:
        wait_for_log(second, HOLDER_FOUND)
        yield SharedDataDir(data_dir, first, second, dead_port)


@pytest.fixture
def kernel_of() -> Iterator:
    """Starts kernels (with the magics loaded) and shuts them down at the end of the test."""
    started: list[KernelClient] = []

    def start(server: JupyterServer) -> KernelClient:
        kernel = server.start_kernel()
        started.append(kernel)
        ok(kernel.execute("%load_ext covalent_nb"), server)
        return kernel
    yield start
    for kernel in started:
        kernel.shutdown()


def test_the_second_server_logs_one_error_line_with_the_fix(shared: SharedDataDir) -> None:
    errors = error_lines(shared.second)
    assert len(errors) == 1, shared.second.log()
    assert (f"covalent-nb: this Jupyter server runs no dispatcher: its data directory {shared.data_dir} is in "
            f"use by the dispatcher of process {shared.first.process.pid}; kernels of this server use that one "
            "if it answers. To run one here, give this server a data directory of its own "
            "(--CovalentNB.data_dir=DIR, or c.CovalentNB.data_dir in its config)") in errors[0]
    assert "extension failed" not in shared.second.log()
    assert error_lines(shared.first) == []


def test_a_kernel_of_the_second_server_dispatches_to_the_first(shared: SharedDataDir, kernel_of) -> None:
    kernel = kernel_of(shared.second)
    status = ok(run(kernel, "%covalent status"), shared.second).stdout
    assert f"Dispatcher: {shared.first.url}covalent/\n" in status
    assert (f"Found via:  the Jupyter server extension: this Jupyter server's own dispatcher could not start "
            f"(its data directory {shared.data_dir} is in use), so the dispatcher that holds it (process "
            f"{shared.first.process.pid})") in status
    assert "Reachable:  yes" in status
    ok(run(kernel, WORKFLOW), shared.second)
    outcome = ok(run(kernel, """
        dispatch_id = ct.dispatch(squared)(7)
        print("dispatch id:", dispatch_id, "result:", ct.get_result(dispatch_id, wait=True).result)
    """), shared.second)
    dispatch_id = re.search(r"dispatch id: (\S+) result: 49$", outcome.stdout.strip(), re.M).group(1)
    seen_by_first = shared.first.get(f"covalent/api/v1/dispatches/{dispatch_id}")
    assert seen_by_first.status == 200 and seen_by_first.json()["status"] == "COMPLETED"
    magic = ok(run(kernel, "%%covalent --wait\ncubed = square(3) * 3\ncubed"), shared.second)
    assert magic.results == ["27"]


def test_the_first_server_takes_its_dispatcher_token_and_no_other(shared: SharedDataDir) -> None:
    token = (shared.data_dir / "server.token").read_text().strip()
    assert (shared.data_dir / "server.token").stat().st_mode & 0o777 == 0o600
    assert shared.first.get("covalent/api/v1/health", token=token).status == 200
    refused = shared.first.get("covalent/api/v1/health", token=token[:-1] + ("a" if token[-1] != "a" else "b"))
    assert refused.status == 403
    # A write with the dispatcher token needs no XSRF cookie: a malformed body gets its JSON 400.
    bad = shared.first.request("POST", "covalent/api/v1/dispatches", payload={"manifest": "nonsense"}, token=token)
    assert bad.status == 400 and "error" in bad.json()


def test_the_extension_wins_over_an_address_only_in_the_config_file(shared: SharedDataDir, kernel_of) -> None:
    kernel = kernel_of(shared.first)
    status = ok(run(kernel, "%covalent status"), shared.first).stdout
    assert f"Dispatcher: {shared.first.url}covalent/\n" in status
    assert "Found via:  the Jupyter server extension (the dispatcher inside this Jupyter server)" in status
    assert "Reachable:  yes" in status
    ok(run(kernel, WORKFLOW), shared.first)
    outcome = ok(run(kernel, "%%covalent --wait\nsquared_four = square(4)\nsquared_four"), shared.first)
    assert outcome.results == ["16"]


def test_set_config_in_the_kernel_wins_over_the_extension(shared: SharedDataDir, kernel_of) -> None:
    kernel = kernel_of(shared.first)
    ok(run(kernel, WORKFLOW), shared.first)
    ok(run(kernel, f"ct.set_config({{'dispatcher.address': '127.0.0.1', 'dispatcher.port': {shared.dead_port}}})"),
       shared.first)
    status = ok(run(kernel, "%covalent status"), shared.first).stdout
    assert f"Dispatcher: http://127.0.0.1:{shared.dead_port}/\n" in status
    assert ("set by ct.set_config in this process, which wins over the Jupyter server extension's "
            "dispatcher") in status
    assert "Reachable:  no (no covalent-nb dispatcher answers" in status
    failed = run(kernel, "ct.dispatch(squared)(2)")
    assert failed.error is not None and failed.error.startswith("DispatcherUnreachableError: ")
    assert "The address came from the config file" in failed.error
    assert "set by ct.set_config in this process" in failed.error


def test_an_html_answer_is_named_not_quoted(shared: SharedDataDir, kernel_of) -> None:
    # The case: a URL of the Jupyter server where no dispatcher is, with its token (so Jupyter
    # answers its HTML 404 page rather than refusing the request).
    kernel = kernel_of(shared.first)
    ok(run(kernel, WORKFLOW + f"\nimport os\nos.environ['COVALENT_NB_TOKEN'] = {shared.first.token!r}\n"),
       shared.first)
    outcome = run(kernel, f"%%covalent --addr http://127.0.0.1:{shared.first.port}/no-such-place/\n"
                          "nine = square(3)\n")
    assert outcome.error is not None and outcome.error.startswith("CellDispatchError: ")
    assert outcome.error.splitlines()[0] == (
        f"CellDispatchError: %%covalent cell 'covalent_cell' could not be dispatched: the server at "
        f"http://127.0.0.1:{shared.first.port}/no-such-place/ answered 404 Not Found to POST "
        f"http://127.0.0.1:{shared.first.port}/no-such-place/api/v1/dispatches, which is not a covalent-nb "
        f"dispatcher's answer: check the address. The address came from "
        f"dispatcher_addr='http://127.0.0.1:{shared.first.port}/no-such-place/' (given to the call).")
    assert "DOCTYPE" not in outcome.error.upper() and "<html" not in outcome.error.lower()


def test_a_holder_that_answers_nothing_is_not_handed_to_kernels(tmp_path: Path) -> None:
    data_dir = tmp_path / "held_data"
    lock = DataDirLock(data_dir)  # this test process holds the directory and serves nothing
    try:
        with running_jupyter(tmp_path / "third", (f"--CovalentNB.data_dir={data_dir}",)) as third:
            log = wait_for_log(third, NOTHING_HANDED)
            assert len(error_lines(third)) == 1 and "--CovalentNB.data_dir=DIR" in error_lines(third)[0]
            assert "has not recorded its URL in server.json" in log
            kernel = third.start_kernel()
            try:
                outcome = ok(run(kernel, """
                    import os
                    from covalent_nb.client.discovery import locate_dispatcher
                    print("handed:", os.environ.get("COVALENT_NB_DISPATCHER_URL"))
                    print("kind:", locate_dispatcher().kind)
                """), third)
            finally:
                kernel.shutdown()
            assert "handed: None" in outcome.stdout and "kind: default" in outcome.stdout
    finally:
        lock.release()


def test_a_standalone_server_that_holds_the_data_dir_is_handed_to_kernels(tmp_path: Path) -> None:
    standalone = start_server(tmp_path / "standalone", workers=1)
    try:
        pid = int((standalone.data_dir / "server.pid").read_text())
        with running_jupyter(tmp_path / "fourth", (f"--CovalentNB.data_dir={standalone.data_dir}",)) as fourth:
            wait_for_log(fourth, HOLDER_FOUND)
            assert len(error_lines(fourth)) == 1, fourth.log()
            kernel = fourth.start_kernel()
            try:
                ok(run(kernel, "%load_ext covalent_nb"), fourth)
                status = ok(run(kernel, "%covalent status"), fourth).stdout
                ok(run(kernel, WORKFLOW), fourth)
                outcome = ok(run(kernel, """
                    dispatch_id = ct.dispatch(squared)(5)
                    print("dispatch id:", dispatch_id, "result:", ct.get_result(dispatch_id, wait=True).result)
                """), fourth)
            finally:
                kernel.shutdown()
        assert f"Dispatcher: http://127.0.0.1:{standalone.port}/\n" in status
        assert f"so the dispatcher that holds it (process {pid})" in status and "Reachable:  yes" in status
        dispatch_id = re.search(r"dispatch id: (\S+) result: 25$", outcome.stdout.strip(), re.M).group(1)
        seen = http_request(f"http://127.0.0.1:{standalone.port}/api/v1/dispatches/{dispatch_id}",
                            token=standalone.token)
        assert seen.status == 200 and seen.json()["status"] == "COMPLETED"
    finally:
        standalone.cli("stop")
