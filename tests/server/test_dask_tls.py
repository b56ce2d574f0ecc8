"""The server's local Dask cluster takes no client without its credentials; existing TLS clusters work.

Real servers started through the CLI, real Dask processes. A stranger here
is this test process with distributed's own Client and raw sockets: it finds
every TCP port the server and its worker processes listen on (the scheduler,
the nannies, the workers) and tries them without the cluster's certificate.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import os
import socket
import ssl
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import psutil
import pytest

import covalent_nb as ct
from covalent_nb import _config
from covalent_nb.errors import ConfigError
from covalent_nb.server.dask_security import local_cluster_security
from covalent_nb.server.settings import ServerSettings
from tests.conftest import RunningServer, free_port, running_dask_cluster, start_server
from tests.server.test_api import call


@ct.electron
def where(x: int) -> tuple[int, str]:
    from distributed import get_worker

    return x + 1, str(get_worker().name)


@ct.lattice
def one_task(x: int) -> tuple[int, str]:
    return where(x)


def health(server: RunningServer) -> dict[str, Any]:
    status, answer = call(server, "GET", "health")
    assert status == 200, answer
    return answer


def cluster_ready(server: RunningServer, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while health(server)["cluster"]["state"] != "ready":
        assert time.monotonic() < deadline, f"the cluster is not ready: {health(server)}"
        time.sleep(0.1)


def server_pid(server: RunningServer) -> int:
    return json.loads((server.data_dir / "server.json").read_text())["pid"]


def listening(pid: int) -> set[tuple[str, int]]:
    """(address, port) of every TCP socket the process and its descendants listen on."""
    found = set()
    process = psutil.Process(pid)
    for part in [process, *process.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            for conn in part.net_connections(kind="tcp"):
                if conn.status == psutil.CONN_LISTEN:
                    found.add((conn.laddr.ip, conn.laddr.port))
    return found


async def try_client(address: str, security: Any = None) -> str | None:
    """Connect a Dask client and run code on the workers; None if it could, else why not.

    Within 10 s: a port that is not Dask's (a worker's HTTP port) may never answer the handshake.
    """
    from distributed import Client

    try:
        client = await asyncio.wait_for(Client(address, asynchronous=True, security=security, timeout=5), 10)
    except asyncio.TimeoutError:
        return "no answer within 10 s"
    except Exception as exc:  # what a stranger gets is the point
        return f"{type(exc).__name__}: {exc}"
    try:
        await client.run(os.getpid)
    finally:
        await client.close()
    return None


def dask_handshake() -> bytes:
    """The bytes a plain TCP Dask client sends first: its handshake, then ``identity``, framed as
    distributed frames them (a plain ``tcp://`` scheduler answers them)."""
    from distributed.comm.tcp import _add_frames_header
    from distributed.comm.utils import to_frames

    async def framed(message: dict[str, Any]) -> bytes:
        frames, _, _ = _add_frames_header(await to_frames(message, allow_offload=False))
        return b"".join(bytes(frame) for frame in frames)

    async def both() -> bytes:
        hello = {"compression": None, "python": tuple(sys.version_info)[:3], "pickle-protocol": 5}
        return await framed(hello) + await framed({"op": "identity", "reply": True})
    return asyncio.run(both())


def raw_dask_handshake(port: int, message: bytes) -> bytes:
    """What a port answers to ``message`` on a plain TCP connection (b"": it closed without a word)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        try:
            sock.sendall(message)
            return sock.recv(4096)
        except (ConnectionResetError, socket.timeout, BrokenPipeError):
            return b""


def tls_without_certificate(port: int) -> bytes | str:
    """What a TLS client with no certificate of its own reads (it trusts any server certificate)."""
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        try:
            with context.wrap_socket(raw) as sock:
                sock.sendall(b"\x00" * 16)
                return sock.recv(4096)
        except (ssl.SSLError, OSError) as exc:
            return f"{type(exc).__name__}: {exc}"


def http_status(port: int, path: str) -> int | None:
    """The HTTP status a port answers for ``path`` (None: no HTTP answer)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        connection.close()


@pytest.fixture
def tls_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningServer]:
    """A server started by `covalent-nb start` with one local worker, its cluster up."""
    server = start_server(tmp_path, workers=1)
    monkeypatch.setenv("COVALENT_NB_TOKEN", server.token)
    try:
        cluster_ready(server)
        yield server
    finally:
        server.cli("stop")


@pytest.mark.filterwarnings("ignore:coroutine .* was never awaited:RuntimeWarning")  # refused clients' __del__
def test_no_port_of_the_local_cluster_takes_a_client_without_the_credentials(tls_server: RunningServer) -> None:
    server = tls_server
    ports = listening(server_pid(server))
    assert {address for address, _ in ports} == {"127.0.0.1"}, ports  # loopback only
    cluster_ports = sorted(port for _, port in ports if port != server.port)
    assert len(cluster_ports) >= 3, ports  # at least the scheduler, a nanny and a worker

    async def strangers() -> dict[int, list[Any]]:
        from distributed.security import Security

        other_ca = Security.temporary()  # a certificate of its own, signed by no one the cluster knows
        return {port: [await try_client(f"tls://127.0.0.1:{port}"),
                       await try_client(f"tcp://127.0.0.1:{port}"),
                       await try_client(f"tls://127.0.0.1:{port}", other_ca)] for port in cluster_ports}

    handshake = dask_handshake()
    for port, refusals in asyncio.run(strangers()).items():
        assert all(refusals), f"a client without the credentials got in on port {port}: {refusals}"
        assert raw_dask_handshake(port, handshake) == b"", f"port {port} answered a plain Dask handshake"
        answer = tls_without_certificate(port)
        assert isinstance(answer, str) or answer == b"", f"port {port} talked TLS to a client without a certificate"

    # The owner's credentials do open it (so the refusals above are about the credentials),
    # and every worker the scheduler knows was among the ports tried.
    tls_dir = server.data_dir / "dask-tls"

    async def owner() -> dict[str, Any]:
        from distributed import Client
        from distributed.security import Security

        security = Security(require_encryption=True, tls_ca_file=str(tls_dir / "ca.pem"),
                            tls_client_cert=str(tls_dir / "cluster.pem"), tls_client_key=str(tls_dir / "cluster.key"))
        schedulers = []
        for port in cluster_ports:
            with contextlib.suppress(Exception):
                async with Client(f"tls://127.0.0.1:{port}", asynchronous=True, security=security,
                                  timeout=5) as client:
                    schedulers.append(await client.scheduler.identity())
        assert len(schedulers) == 1, f"one scheduler expected among {cluster_ports}: {len(schedulers)}"
        return schedulers[0]

    info = asyncio.run(owner())
    worker_ports = {int(address.rsplit(":", 1)[1]) for address in info["workers"]}
    assert len(worker_ports) == 1 and worker_ports <= set(cluster_ports)
    assert all(address.startswith("tls://127.0.0.1:") for address in info["workers"])
    # No dashboard: the scheduler's HTTP port is closed, the workers' answer nothing but 404.
    dashboard = info["services"]["dashboard"]
    assert ("127.0.0.1", dashboard) not in ports and http_status(dashboard, "/status") is None
    for port in cluster_ports:
        for path in ("/", "/status", "/info/main/workers.html", "/json/identity.json", "/metrics", "/health"):
            assert http_status(port, path) in (None, 404), f"port {port} answers {path}"

    # The server's own dispatches still run on that cluster.
    result = ct.dispatch_sync(one_task, dispatcher_addr=server.addr)(41)
    assert (result.status, result.result[0]) == ("COMPLETED", 42), result.error


def test_the_credentials_are_the_owners_alone(tls_server: RunningServer) -> None:
    tls_dir = tls_server.data_dir / "dask-tls"
    assert stat.S_IMODE(tls_dir.stat().st_mode) == 0o700
    files = sorted(path.name for path in tls_dir.iterdir())
    assert files == ["ca.pem", "cluster.key", "cluster.pem"]
    for name in files:
        assert stat.S_IMODE((tls_dir / name).stat().st_mode) == 0o600, name
    assert b"PRIVATE KEY" in (tls_dir / "cluster.key").read_bytes()
    assert b"PRIVATE KEY" not in (tls_dir / "ca.pem").read_bytes()  # the CA's key is not kept


def test_credentials_are_kept_across_restarts_and_made_again_when_broken(tmp_path: Path) -> None:
    tls_dir = tmp_path / "dask-tls"
    local_cluster_security(tls_dir)
    first = (tls_dir / "cluster.pem").read_bytes()
    local_cluster_security(tls_dir)
    assert (tls_dir / "cluster.pem").read_bytes() == first
    (tls_dir / "cluster.key").write_text("not a key")
    (tls_dir / "cluster.key").chmod(0o644)
    security = local_cluster_security(tls_dir)
    assert (tls_dir / "cluster.pem").read_bytes() != first
    assert stat.S_IMODE((tls_dir / "cluster.key").stat().st_mode) == 0o600
    assert security.require_encryption and security.tls_ca_file == str(tls_dir / "ca.pem")


# ---------------------------------------------------------------- an existing cluster behind TLS


def test_an_existing_cluster_behind_tls_is_reached_with_the_configured_credentials(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    credentials = tmp_path / "cluster-credentials"
    local_cluster_security(credentials)  # a CA and a certificate for the cluster and its clients
    with running_dask_cluster("tls-worker", credentials=credentials) as address:
        (tmp_path / "config").mkdir()
        (tmp_path / "config" / "covalent.conf").write_text(
            f'[dask]\nscheduler_address = "{address}"\ntls_ca_file = "{credentials / "ca.pem"}"\n'
            f'tls_client_cert = "{credentials / "cluster.pem"}"\ntls_client_key = "{credentials / "cluster.key"}"\n')
        server = start_server(tmp_path, workers=1)
        monkeypatch.setenv("COVALENT_NB_TOKEN", server.token)
        try:
            result = ct.dispatch_sync(one_task, dispatcher_addr=server.addr)(1)
            assert (result.status, result.result) == ("COMPLETED", (2, "tls-worker")), result.error
            assert health(server)["cluster"]["kind"] == "scheduler"
        finally:
            server.cli("stop")
        assert asyncio.run(try_client(address)) is not None  # and it takes no client without them


def test_a_tls_scheduler_without_credentials_is_refused_at_start(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "covalent.conf").write_text('[dask]\nscheduler_address = "tls://127.0.0.1:1"\n')
    env = dict(os.environ, COVALENT_NB_CONFIG_DIR=str(tmp_path / "config"), COVALENT_NB_DATA_DIR=str(tmp_path / "data"))
    done = subprocess.run([sys.executable, "-m", "covalent_nb", "start", "--address", "127.0.0.1", "--port",
                           str(free_port()), "--workers", "1"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "dask.tls_ca_file" in done.stdout + done.stderr


def test_tls_settings_are_checked_where_they_enter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COVALENT_NB_CONFIG_DIR", str(tmp_path / "conf"))
    monkeypatch.setenv("COVALENT_NB_DATA_DIR", str(tmp_path / "data"))
    credentials = tmp_path / "creds"
    local_cluster_security(credentials)
    try:
        _config.set_config({"dask.tls_ca_file": str(credentials / "ca.pem")})
        with pytest.raises(ConfigError, match="dask.tls_client_cert must be set too"):
            ServerSettings.from_config()
        _config.set_config({"dask.tls_client_cert": str(tmp_path / "missing.pem")})
        with pytest.raises(ConfigError, match="dask.tls_client_cert names no readable file"):
            ServerSettings.from_config()
        _config.set_config({"dask.tls_client_cert": str(credentials / "cluster.pem"),
                            "dask.tls_client_key": str(credentials / "cluster.key")})
        tls = ServerSettings.from_config().dask_tls
        assert tls is not None and tls.cert_file == str(credentials / "cluster.pem")
    finally:
        _config.reload_config()
