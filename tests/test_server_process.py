"""Tests of covalent_nb._server_process helpers that need no dispatcher server."""

from __future__ import annotations

import http.server
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from covalent_nb import _config, _server_process
from covalent_nb.errors import ServerProcessError


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COVALENT_NB_CONFIG_DIR", str(tmp_path / "conf"))
    monkeypatch.setenv("COVALENT_NB_DATA_DIR", str(tmp_path / "data"))


@pytest.fixture()
def status_server() -> Iterator[tuple[str, list[str]]]:
    """A loopback HTTP server: 200 for 'token good', 401 otherwise; yields (url, auth headers)."""
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            auth = self.headers.get("Authorization", "")
            seen.append(auth)
            self.send_response(200 if auth == "token good" and self.path == "/api/v1/health" else 401)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


def test_health_status_sends_the_token(status_server: tuple[str, list[str]]) -> None:
    url, seen = status_server
    assert _server_process.health_status(url, "good") == 200
    assert _server_process.health_status(url + "/", "bad") == 401
    assert _server_process.health_status(url, None) == 401
    assert seen == ["token good", "token bad", ""]


def test_health_status_is_none_when_nothing_listens() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert _server_process.health_status(f"http://127.0.0.1:{port}", "x", timeout=1) is None


def test_port_is_free_sees_a_listener() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert not _server_process.port_is_free("127.0.0.1", port)
    assert _server_process.port_is_free("127.0.0.1", port)


def test_port_is_free_names_an_unresolvable_address() -> None:
    with pytest.raises(ServerProcessError, match="no-such-host.invalid"):
        _server_process.port_is_free("no-such-host.invalid", 48008)


@pytest.mark.parametrize(
    ("address", "url"),
    [("localhost", "http://localhost:1"), ("0.0.0.0", "http://127.0.0.1:1"),
     ("::", "http://[::1]:1"), ("::1", "http://[::1]:1")],
)
def test_connect_url(address: str, url: str) -> None:
    assert _server_process.connect_url(address, 1) == url


def test_log_tail_reads_across_blocks(tmp_path: Path) -> None:
    log = tmp_path / "big.log"
    log.write_text("".join(f"{i:06d} " + "x" * 200 + "\n" for i in range(2000)))
    tail = _server_process.log_tail(log, 400)
    assert len(tail) == 400
    assert tail[0].startswith("001600 ") and tail[-1].startswith("001999 ")
    assert _server_process.log_tail(log, 0) == []
    short = tmp_path / "short.log"
    short.write_text("only\nthree\nlines")
    assert _server_process.log_tail(short, 10) == ["only", "three", "lines"]


def test_running_server_reads_pid_and_info(tmp_path: Path) -> None:
    paths = _config.server_state_paths()
    paths.root.mkdir(parents=True)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "covalent_nb-stand-in"])
    try:
        paths.pid_file.write_text(str(sleeper.pid))
        info = {"pid": sleeper.pid, "url": "http://localhost:48123/", "address": "localhost", "port": 48123}
        paths.info_file.write_text(json.dumps(info))
        server = _server_process.running_server()
        assert server == _server_process.RunningServer(
            pid=sleeper.pid, url="http://localhost:48123", address="localhost", port=48123)
        assert server.host_port == "localhost:48123"
        assert not _server_process.remove_stale_state()
    finally:
        sleeper.kill()
        sleeper.wait()
    assert _server_process.running_server() is None
    assert _server_process.remove_stale_state()
    assert not paths.pid_file.exists() and not paths.info_file.exists()


def test_is_covalent_process_checks_the_command_line() -> None:
    assert not _server_process.is_covalent_process(0)
    plain = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert not _server_process.is_covalent_process(plain.pid)
    finally:
        plain.kill()
        plain.wait()


def test_delete_server_state_refuses_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "keep.txt").write_text("x")
    with pytest.raises(ServerProcessError, match="refusing"):
        _server_process.delete_server_state(_config.server_state_paths(tmp_path))
    with pytest.raises(ServerProcessError, match="refusing"):
        _server_process.delete_server_state(_config.server_state_paths(Path(os.sep)))
    assert (tmp_path / "keep.txt").exists()


def test_delete_server_state_removes_everything(tmp_path: Path) -> None:
    paths = _config.server_state_paths()
    (paths.blobs_dir / "ab").mkdir(parents=True)
    (paths.blobs_dir / "ab" / "cd").write_bytes(b"1")
    paths.token_file.write_text("t")
    deleted = _server_process.delete_server_state(paths)
    assert sorted(p.name for p in deleted) == ["blobs", "server.token"]
    assert not paths.root.exists()
    assert _server_process.delete_server_state(paths) == []
