"""The token stays out of URLs and logs, and the data directory is the owner's alone.

Real servers: `covalent-nb start`, `covalent-nb serve` in the foreground, and
a Jupyter server with the extension. Each data directory is laid out
beforehand as an older version or a careless hand left it (0755, a 0644
database, token and log), and is checked after the server has started and
run a dispatch.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest
import tornado.httpclient
import tornado.websocket

import covalent_nb as ct
from tests.conftest import RunningServer, free_port, server_for_this_process, start_server, wait_for
from tests.jupyter_ext.jupyter_process import JupyterServer, running_jupyter

PRIVATE_FILES = ("server.token", "results.db", "results.db-wal", "results.db-shm", "dispatcher.lock",
                 "dask-tls/ca.pem", "dask-tls/cluster.pem", "dask-tls/cluster.key", "left-by-hand.txt")
"""Files each data directory must have, each 0600 (some made before the server started)."""


@ct.electron
def add_one(x: int) -> int:
    return x + 1


@ct.lattice
def one_task(x: int) -> int:
    return add_one(x)


def careless_data_dir(data_dir: Path, token: str | None = None) -> None:
    """A data directory as an older version left it: 0755, a 0644 database (and token, log, a note)."""
    data_dir.mkdir(parents=True)
    data_dir.chmod(0o755)
    for name, text in (("results.db", ""), ("left-by-hand.txt", "notes"), ("server.log", "old log\n"),
                       ("server.token", token)):
        if text is not None:
            (data_dir / name).write_text(text)
            (data_dir / name).chmod(0o644)


def assert_private(data_dir: Path, *more: str) -> None:
    """The directory is 0700, the named files 0600, and nothing in it is open to group or others."""
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    for name in (*PRIVATE_FILES, *more):
        assert stat.S_IMODE((data_dir / name).stat().st_mode) == 0o600, f"{name} is not 0600"
    opened = [f"{path.relative_to(data_dir)} {oct(stat.S_IMODE(path.lstat().st_mode))}"
              for path in data_dir.rglob("*") if path.lstat().st_mode & 0o077]
    assert opened == [], f"open to group or others: {opened}"


def call(base: str, path: str, token: str | None, query_token: str | None = None) -> int:
    """The status of ``GET {base}{path}`` with ``token`` in the header and ``query_token`` in the URL."""
    url = base + path + (f"{'&' if '?' in path else '?'}token={query_token}" if query_token else "")
    request = urllib.request.Request(url, headers={"Authorization": f"token {token}"} if token else {})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=30) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code


async def websocket_first_message(url: str) -> dict[str, Any] | int:
    """The first message of the events WebSocket at ``url``, or the HTTP status that refused it."""
    try:
        connection = await tornado.websocket.websocket_connect(url)
    except tornado.httpclient.HTTPClientError as error:
        return error.code
    try:
        message = await asyncio.wait_for(connection.read_message(), 30)
        assert message is not None
        return json.loads(message)
    finally:
        connection.close()


def files_holding(data_dir: Path, secret: str, but: tuple[str, ...] = ("server.token",)) -> list[str]:
    """The files under ``data_dir`` (except ``but``) that contain ``secret``."""
    return [str(path.relative_to(data_dir)) for path in data_dir.rglob("*")
            if path.is_file() and str(path.relative_to(data_dir)) not in but and secret.encode() in path.read_bytes()]


@dataclasses.dataclass
class Started:
    """A server and the dispatch it ran."""

    server: RunningServer
    dispatch_id: str


@pytest.fixture(scope="module")
def started(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Started]:
    """A server started by `covalent-nb start` on a careless data directory, one dispatch run."""
    root = tmp_path_factory.mktemp("started")
    careless_data_dir(root / "data", token="a-token-left-readable-by-an-older-version")
    with server_for_this_process(root, workers=1) as server:
        result = ct.dispatch_sync(one_task, dispatcher_addr=server.addr)(1)
        assert (result.status, result.result) == ("COMPLETED", 2), result.error
        yield Started(server, result.dispatch_id)


def test_a_token_in_the_url_counts_only_on_the_websocket(started: Started) -> None:
    server = started.server
    base, token = f"http://{server.addr}/api/v1/", server.token
    assert call(base, "health", token) == 200
    for path in ("health", "dispatches", f"dispatches/{started.dispatch_id}", "executors"):
        assert call(base, path, None, query_token=token) == 401, path

    events = f"ws://{server.addr}/api/v1/events?dispatch_id={started.dispatch_id}"
    snapshot = asyncio.run(websocket_first_message(f"{events}&token={token}"))
    assert isinstance(snapshot, dict) and (snapshot["type"], snapshot["status"]) == ("snapshot", "COMPLETED")
    assert asyncio.run(websocket_first_message(events)) == 401
    assert asyncio.run(websocket_first_message(f"{events}&token=wrong-{token}")) == 401


def send_the_token_everywhere(server: RunningServer, dispatch_id: str) -> None:
    """Requests with the token in the URL (on every kind of answer) and in the header."""
    base, token = f"http://{server.addr}/api/v1/", server.token
    assert call(base, "health", token, query_token=token) == 200
    assert call(base, "health", None, query_token=token) == 401
    assert call(base, "dispatches/no-such-dispatch", token, query_token=token) == 404
    assert call(base, "events", None, query_token=token) == 400  # not a WebSocket upgrade
    events = f"ws://{server.addr}/api/v1/events?token={token}&dispatch_id="
    assert isinstance(asyncio.run(websocket_first_message(events + dispatch_id)), dict)
    assert asyncio.run(websocket_first_message(events + "no-such-dispatch")) == 404


def test_no_log_and_no_file_holds_the_token(started: Started) -> None:
    server = started.server
    send_the_token_everywhere(server, started.dispatch_id)
    assert server.token not in (server.data_dir / "server.log").read_text()
    assert files_holding(server.data_dir, server.token) == []


def test_the_access_log_keeps_logging_once_the_cluster_runs(started: Started) -> None:
    # Importing distributed set tornado's loggers to CRITICAL: the log went quiet with the cluster.
    server = started.server
    send_the_token_everywhere(server, started.dispatch_id)
    log = (server.data_dir / "server.log").read_text()
    assert "401 GET /api/v1/health?token=[redacted]" in log
    assert f"200 GET /api/v1/dispatches/{started.dispatch_id}" in log
    assert server.token not in log


def test_the_access_log_names_requests_without_the_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A server without a cluster, whose tasks run on the local executor.
    server = start_server(tmp_path, workers=1, extra=("--no-cluster",))
    monkeypatch.setenv("COVALENT_NB_TOKEN", server.token)
    try:
        @ct.electron(executor="local")
        def local_add_one(x: int) -> int:
            return x + 1

        @ct.lattice
        def local_task(x: int) -> int:
            return local_add_one(x)

        result = ct.dispatch_sync(local_task, dispatcher_addr=server.addr)(1)
        assert (result.status, result.result) == ("COMPLETED", 2), result.error
        send_the_token_everywhere(server, result.dispatch_id)
        log = (server.data_dir / "server.log").read_text()
        for line in ("200 GET /api/v1/health?token=[redacted]", "401 GET /api/v1/health?token=[redacted]",
                     "404 GET /api/v1/dispatches/no-such-dispatch?token=[redacted]",
                     "101 GET /api/v1/events?token=[redacted]&dispatch_id="):
            assert line in log, line
        assert server.token not in log
        assert files_holding(server.data_dir, server.token) == []
    finally:
        server.cli("stop")


def test_start_makes_an_old_data_directory_private(started: Started) -> None:
    data_dir = started.server.data_dir
    assert_private(data_dir, "server.log", "server.json", "server.pid")
    assert (data_dir / "server.token").read_text().strip() == "a-token-left-readable-by-an-older-version"


def test_serve_makes_an_old_data_directory_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    careless_data_dir(tmp_path / "data", token="an-old-token-readable-by-all")
    env = dict(os.environ, COVALENT_NB_CONFIG_DIR=str(tmp_path / "config"), COVALENT_NB_DATA_DIR=str(tmp_path / "data"))
    env.pop("COVALENT_NB_TOKEN", None)
    port = free_port()
    with open(tmp_path / "serve.out", "wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "covalent_nb", "serve", "--address", "127.0.0.1",
                                    "--port", str(port), "--workers", "1"],
                                   env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        token_file = tmp_path / "data" / "server.token"

        def answers_or_exited() -> bool:
            if process.poll() is not None:
                return True
            try:
                return call(f"http://127.0.0.1:{port}/api/v1/", "health", token_file.read_text().strip()) == 200
            except urllib.error.URLError:  # not listening yet
                return False
        wait_for(answers_or_exited, "the foreground server answering", timeout=60)
        assert process.poll() is None, (tmp_path / "serve.out").read_text()
        token = token_file.read_text().strip()
        monkeypatch.setenv("COVALENT_NB_TOKEN", token)
        result = ct.dispatch_sync(one_task, dispatcher_addr=f"127.0.0.1:{port}")(41)
        assert (result.status, result.result) == ("COMPLETED", 42), result.error
        assert call(f"http://127.0.0.1:{port}/api/v1/", "health", None, query_token=token) == 401
        assert_private(tmp_path / "data", "server.json", "server.pid", "server.log")
        assert token not in (tmp_path / "serve.out").read_text()
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)


# ---------------------------------------------------------------- inside Jupyter


def test_the_jupyter_extension_keeps_tokens_out_of_its_log_and_its_data_private(tmp_path: Path) -> None:
    data_dir = tmp_path / "covalent_data" / "jupyter"  # the extension's data directory
    careless_data_dir(data_dir)
    with running_jupyter(tmp_path, extra_args=("--log-level=DEBUG",)) as jupyter:
        dispatcher_token = (data_dir / "server.token").read_text().strip()
        events = f"ws://127.0.0.1:{jupyter.port}/covalent/api/v1/events?token="
        wait_for(lambda: dispatcher_answers(jupyter), "the extension's dispatcher and cluster", timeout=60)
        for token in (jupyter.token, dispatcher_token):
            # No dispatch id: the stream of all events opens and sends nothing yet; a timeout is success.
            assert asyncio.run(websocket_opens(events + token)), token[:4]
        assert call(jupyter.url, "covalent/api/v1/health", dispatcher_token) == 200
        assert call(jupyter.url, "covalent/api/v1/health", None, query_token=dispatcher_token) == 403
        time.sleep(0.5)  # the access log lines of the last requests
        log = jupyter.log()
        assert "/covalent/api/v1/events?token=[secret]" in log  # jupyter_server's own redaction
        assert jupyter.token not in log and dispatcher_token not in log
        assert_private(data_dir)
    assert files_holding(data_dir, jupyter.token, but=()) == []


def dispatcher_answers(jupyter: JupyterServer) -> bool:
    """True once the extension's dispatcher answers with its cluster up (its credentials made)."""
    answer = jupyter.get("covalent/api/v1/health")
    return answer.status == 200 and answer.json()["cluster"]["state"] == "ready"


async def websocket_opens(url: str) -> bool:
    """True when the WebSocket at ``url`` opens (and stays open for a moment)."""
    try:
        connection = await tornado.websocket.websocket_connect(url)
    except tornado.httpclient.HTTPClientError:
        return False
    try:
        message = await asyncio.wait_for(connection.read_message(), 0.5)
        return message is not None
    except asyncio.TimeoutError:
        return True
    finally:
        connection.close()
