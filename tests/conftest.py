"""Shared fixtures: a real dispatcher started through the CLI on a free loopback port."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Poll ``condition()`` every 20 ms until it is true; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        time.sleep(0.02)


def process_is_gone(pid: int) -> bool:
    """True when no process has this pid any more, or only a zombie (exited, not yet reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    status = Path(f"/proc/{pid}/stat")
    return status.exists() and status.read_text().split(")")[-1].split()[0] == "Z"


@contextlib.contextmanager
def running_dask_cluster(worker_name: str, nthreads: int = 1, credentials: Path | None = None) -> Iterator[str]:
    """`dask scheduler` and one `dask worker` (with a nanny) on 127.0.0.1, as separate processes; yields the
    scheduler's address once the worker has joined.

    With ``credentials`` (a folder holding ``ca.pem``, ``cluster.pem`` and ``cluster.key``, as
    ``local_cluster_security`` writes them) both speak only TLS with them.
    """
    port = free_port()
    tls: list[str] = []
    security = None
    if credentials is not None:
        tls = ["--tls-ca-file", str(credentials / "ca.pem"), "--tls-cert", str(credentials / "cluster.pem"),
               "--tls-key", str(credentials / "cluster.key")]
    address = f"{'tls' if tls else 'tcp'}://127.0.0.1:{port}"
    scheduler = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                                  "--port", str(port), "--dashboard-address", "127.0.0.1:0", *tls],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", address, "--name",
                               worker_name, "--nthreads", str(nthreads), "--no-dashboard", "--host", "127.0.0.1",
                               *tls],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        from distributed import Client

        if credentials is not None:
            from covalent_nb.server.dask_security import local_cluster_security

            security = local_cluster_security(credentials)
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError):
                with Client(address, security=security, timeout=5) as client:
                    if client.scheduler_info()["workers"]:
                        break
            assert time.monotonic() < deadline, f"the {'TLS ' if tls else ''}Dask cluster did not come up"
            time.sleep(0.2)
        yield address
    finally:
        for proc in (worker, scheduler):
            proc.terminate()
            proc.wait(timeout=30)


@contextlib.contextmanager
def local_dask_client(threads_per_worker: int = 1) -> Iterator[Any]:
    """A ``distributed.Client`` of a real local Dask cluster of one worker process, without dashboard."""
    import distributed

    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=threads_per_worker, processes=True,
                                       dashboard_address=None)
    client = distributed.Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


@pytest.fixture
def early_statuses(monkeypatch: pytest.MonkeyPatch) -> list[int | None]:
    """What the client's ``early_status`` saw for each large body it sent (observed, unchanged)."""
    from covalent_nb.client import http as client_http

    seen: list[int | None] = []
    look = client_http.early_status

    def recording_look(*args: object, **kwargs: object) -> int | None:
        seen.append(look(*args, **kwargs))  # type: ignore[arg-type]
        return seen[-1]

    monkeypatch.setattr(client_http, "early_status", recording_look)
    return seen


@dataclasses.dataclass
class RunningServer:
    """A dispatcher process started for the tests."""

    address: str
    port: int
    env: dict[str, str]
    data_dir: Path

    @property
    def addr(self) -> str:
        return f"{self.address}:{self.port}"

    @property
    def token(self) -> str:
        return (self.data_dir / "server.token").read_text().strip()

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        """Run ``covalent-nb ARGS`` against this server's config and data dir."""
        return subprocess.run([sys.executable, "-m", "covalent_nb", *args], env=self.env,
                              capture_output=True, text=True, timeout=timeout)


def start_server(root: Path, workers: int = 2, extra: tuple[str, ...] = (),
                 env_extra: dict[str, str] | None = None) -> RunningServer:
    """Start a server with its own config and data dirs under ``root`` (``env_extra``: more environment)."""
    port = free_port()
    env = dict(os.environ)
    env.update(env_extra or {})
    env["COVALENT_NB_CONFIG_DIR"] = str(root / "config")
    env["COVALENT_NB_DATA_DIR"] = str(root / "data")
    env.pop("COVALENT_NB_TOKEN", None)
    server = RunningServer("127.0.0.1", port, env, root / "data")
    done = server.cli("start", "--address", "127.0.0.1", "--port", str(port), "--workers", str(workers), *extra)
    assert done.returncode == 0, f"server did not start:\n{done.stdout}\n{done.stderr}"
    return server


@contextlib.contextmanager
def server_for_this_process(root: Path, workers: int = 2, extra: tuple[str, ...] = (),
                            env_extra: dict[str, str] | None = None) -> Iterator[RunningServer]:
    """A server started as :func:`start_server` does, whose token this process's clients use
    (``COVALENT_NB_TOKEN``) inside the block; the variable is put back, then the server stopped."""
    server = start_server(root, workers, extra, env_extra)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("COVALENT_NB_TOKEN", server.token)
            yield server
    finally:
        server.cli("stop")


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One dispatcher for the session; the test process's client is configured for it."""
    root = tmp_path_factory.mktemp("covalent_nb")
    running = start_server(root)
    saved = {k: os.environ.get(k) for k in ("COVALENT_NB_CONFIG_DIR", "COVALENT_NB_DATA_DIR", "COVALENT_NB_TOKEN")}
    os.environ["COVALENT_NB_CONFIG_DIR"] = running.env["COVALENT_NB_CONFIG_DIR"]
    os.environ["COVALENT_NB_DATA_DIR"] = running.env["COVALENT_NB_DATA_DIR"]
    os.environ.pop("COVALENT_NB_TOKEN", None)
    import covalent_nb as ct

    ct.reload_config()
    ct.set_config({"dispatcher.address": running.address, "dispatcher.port": running.port})
    yield running
    running.cli("stop")
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    ct.reload_config()


@pytest.fixture(scope="session")
def one_mb_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A dispatcher whose payload limit is 1 MB (``server.max_payload_mb = 1``), for refusals."""
    root = tmp_path_factory.mktemp("one_mb")
    (root / "config").mkdir()
    (root / "config" / "covalent.conf").write_text("[server]\nmax_payload_mb = 1\n")
    running = start_server(root, workers=1)
    yield running
    running.cli("stop")
