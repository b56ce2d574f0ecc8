"""Tests of the covalent-nb command line, run as real subprocesses.

Most cover what needs no dispatcher server: they manage stand-in processes
started here (plain Python sleepers whose command line does or does not
mention covalent_nb) and a tiny HTTP server answering /api/v1/health. The
last ones run a real server: its log after a normal stop, and the demo
writing into a pipe that closes early.
"""

from __future__ import annotations

import http.server
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port, start_server

SLEEPER = "import signal, sys, time\n{setup}\nprint('ready', flush=True)\ntime.sleep(120)\n"


@pytest.fixture()
def cli_env(tmp_path: Path) -> dict[str, str]:
    """An environment whose config and data directories live in tmp_path."""
    env = dict(os.environ)
    env["COVALENT_NB_CONFIG_DIR"] = str(tmp_path / "conf")
    env["COVALENT_NB_DATA_DIR"] = str(tmp_path / "data")
    env.pop("COVALENT_NB_TOKEN", None)
    return env


def run_cli(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``python -m covalent_nb ARGS`` with stdin not a terminal."""
    return subprocess.run(
        [sys.executable, "-m", "covalent_nb", *args], env=env, stdin=subprocess.DEVNULL,
        capture_output=True, text=True, timeout=timeout,
    )


def data_dir(env: dict[str, str]) -> Path:
    path = Path(env["COVALENT_NB_DATA_DIR"])
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture()
def spawn_sleeper() -> Iterator:
    """Start Python sleepers in their own sessions; kill them all at the end of the test."""
    started: list[subprocess.Popen[str]] = []

    def spawn(tag: str, ignore_sigterm: bool = False) -> subprocess.Popen[str]:
        setup = "signal.signal(signal.SIGTERM, signal.SIG_IGN)" if ignore_sigterm else ""
        process = subprocess.Popen(
            [sys.executable, "-c", SLEEPER.format(setup=setup), tag],
            stdout=subprocess.PIPE, text=True, start_new_session=True,
        )
        started.append(process)
        assert process.stdout is not None and process.stdout.readline().strip() == "ready"
        return process

    yield spawn
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


@pytest.fixture()
def health_server() -> Iterator[tuple[str, list[str]]]:
    """A loopback HTTP server answering 200 on /api/v1/health; yields (url, seen auth headers)."""
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            seen.append(self.headers.get("Authorization", ""))
            ok = self.path == "/api/v1/health"
            self.send_response(200 if ok else 404)
            self.end_headers()
            self.wfile.write(b'{"status": "ok"}' if ok else b"{}")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


def record_server(env: dict[str, str], pid: int, url: str | None = None) -> Path:
    """Write server.pid (and server.json) as a running server would."""
    root = data_dir(env)
    (root / "server.pid").write_text(f"{pid}\n")
    if url:
        port = int(url.rsplit(":", 1)[1])
        info = {"pid": pid, "url": url, "address": "127.0.0.1", "port": port}
        (root / "server.json").write_text(json.dumps(info))
    return root


# ---------------------------------------------------------------- usage


def test_no_command_prints_usage_and_fails(cli_env: dict[str, str]) -> None:
    done = run_cli(cli_env)
    assert done.returncode == 2
    assert "start" in done.stderr and "purge" in done.stderr


def test_bad_port_is_a_usage_error(cli_env: dict[str, str]) -> None:
    done = run_cli(cli_env, "start", "--port", "0")
    assert done.returncode == 2
    assert "not a port number" in done.stderr
    assert not Path(cli_env["COVALENT_NB_DATA_DIR"]).exists()


def test_malformed_config_file_is_named(cli_env: dict[str, str]) -> None:
    config = Path(cli_env["COVALENT_NB_CONFIG_DIR"]) / "covalent.conf"
    config.parent.mkdir(parents=True)
    config.write_text("[dispatcher\n")
    done = run_cli(cli_env, "start")
    assert done.returncode == 1
    assert str(config) in done.stderr


# ---------------------------------------------------------------- status, stop


def test_status_when_not_running_exits_3(cli_env: dict[str, str]) -> None:
    done = run_cli(cli_env, "status")
    assert done.returncode == 3
    assert "not running" in done.stdout


def test_stop_when_not_running_exits_0(cli_env: dict[str, str]) -> None:
    done = run_cli(cli_env, "stop")
    assert done.returncode == 0
    assert "not running" in done.stdout


def test_stop_leaves_a_foreign_process_alone_and_removes_stale_pid(
    cli_env: dict[str, str], spawn_sleeper
) -> None:
    foreign = spawn_sleeper("some-other-program")
    root = record_server(cli_env, foreign.pid, "http://127.0.0.1:9")
    done = run_cli(cli_env, "stop")
    assert done.returncode == 0
    assert "not running" in done.stdout and "stale" in done.stdout
    assert foreign.poll() is None  # still alive
    assert not (root / "server.pid").exists() and not (root / "server.json").exists()


def test_stop_terminates_a_recorded_server(cli_env: dict[str, str], spawn_sleeper) -> None:
    server = spawn_sleeper("covalent_nb-stand-in-server")
    root = record_server(cli_env, server.pid, "http://127.0.0.1:9")
    done = run_cli(cli_env, "stop")
    assert done.returncode == 0, done.stderr
    assert f"stopped covalent-nb dispatcher (pid {server.pid})" in done.stdout
    assert server.wait(timeout=10) == -signal.SIGTERM
    assert not (root / "server.pid").exists()


def test_stop_kills_a_server_that_ignores_sigterm(cli_env: dict[str, str], spawn_sleeper) -> None:
    server = spawn_sleeper("covalent_nb-stubborn-stand-in", ignore_sigterm=True)
    record_server(cli_env, server.pid)
    done = run_cli(cli_env, "stop", "--timeout", "0.5")
    assert done.returncode == 0, done.stderr
    assert server.wait(timeout=10) == -signal.SIGKILL


def test_status_reports_a_healthy_server_with_its_token(
    cli_env: dict[str, str], spawn_sleeper, health_server: tuple[str, list[str]]
) -> None:
    url, seen = health_server
    server = spawn_sleeper("covalent_nb-stand-in-server")
    root = record_server(cli_env, server.pid, url)
    (root / "server.token").write_text("t0ken\n")
    done = run_cli(cli_env, "status")
    assert done.returncode == 0, done.stderr
    assert f"running at {url} (pid {server.pid})" in done.stdout
    assert "health: ok" in done.stdout
    assert seen == ["token t0ken"]


def test_status_reports_a_server_that_does_not_answer(cli_env: dict[str, str], spawn_sleeper) -> None:
    with socket.socket() as probe:  # a port with no listener
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    server = spawn_sleeper("covalent_nb-stand-in-server")
    record_server(cli_env, server.pid, url)
    done = run_cli(cli_env, "status")
    assert done.returncode == 0
    assert "no connection" in done.stdout and "covalent-nb logs" in done.stdout


# ---------------------------------------------------------------- start


def test_start_refuses_a_port_taken_by_another_program(cli_env: dict[str, str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_cli(cli_env, "start", "--address", "127.0.0.1", "--port", str(port))
    assert done.returncode == 1
    assert f"port {port}" in done.stderr and "--port" in done.stderr
    assert not (Path(cli_env["COVALENT_NB_DATA_DIR"]) / "server.log").exists()  # nothing was spawned


def test_start_when_already_running_does_not_spawn(cli_env: dict[str, str], spawn_sleeper) -> None:
    server = spawn_sleeper("covalent_nb-stand-in-server")
    root = record_server(cli_env, server.pid, "http://127.0.0.1:48999")
    done = run_cli(cli_env, "start")
    assert done.returncode == 0, done.stderr
    assert f"already running at http://127.0.0.1:48999 (pid {server.pid})" in done.stdout
    assert not (root / "server.log").exists()


# ---------------------------------------------------------------- logs


def test_logs_without_a_log_fails_with_a_message(cli_env: dict[str, str]) -> None:
    done = run_cli(cli_env, "logs")
    assert done.returncode == 1
    assert "no server log" in done.stderr and "covalent-nb start" in done.stderr


def test_logs_prints_the_last_lines(cli_env: dict[str, str]) -> None:
    (data_dir(cli_env) / "server.log").write_text("".join(f"line {i}\n" for i in range(1, 11)))
    done = run_cli(cli_env, "logs", "-n", "3")
    assert done.returncode == 0
    assert done.stdout.splitlines() == ["line 8", "line 9", "line 10"]


def pipe_into_head(env: dict[str, str], *args: str) -> tuple[list[str], int, str]:
    """``covalent-nb ARGS | head -1`` in a shell: (head's lines, covalent-nb's exit code, its stderr)."""
    command = " ".join(shlex.quote(part) for part in (sys.executable, "-m", "covalent_nb", *args))
    script = f'{command} 2>"$CNB_STDERR" | head -1; echo "covalent-nb exit: ${{PIPESTATUS[0]}}"'
    stderr_file = Path(env["COVALENT_NB_DATA_DIR"]).parent / "cli-stderr.txt"
    done = subprocess.run(["bash", "-c", script], env=dict(env, CNB_STDERR=str(stderr_file)),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    *lines, status = done.stdout.splitlines()
    return lines, int(status.removeprefix("covalent-nb exit: ")), stderr_file.read_text()


def test_logs_into_a_pipe_closed_early_end_quietly(cli_env: dict[str, str]) -> None:
    # 100 kB: more than a pipe holds, so writing fails once head has gone
    (data_dir(cli_env) / "server.log").write_text("".join(f"line {i:>20}\n" for i in range(1, 5001)))
    lines, status, stderr = pipe_into_head(cli_env, "logs", "-n", "5000")
    assert lines == [f"line {1:>20}"]
    assert status == 1 and stderr == "", stderr  # no BrokenPipeError traceback, no 'Exception ignored'


# ---------------------------------------------------------------- purge


def make_state(env: dict[str, str]) -> tuple[Path, Path]:
    root = data_dir(env)
    (root / "server.log").write_text("log\n")
    (root / "results.db").write_bytes(b"db")
    (root / "blobs" / "ab").mkdir(parents=True)
    (root / "blobs" / "ab" / "cdef").write_bytes(b"blob")
    config = Path(env["COVALENT_NB_CONFIG_DIR"]) / "covalent.conf"
    config.parent.mkdir(parents=True)
    config.write_text("[dispatcher]\nport = 48001\n")
    return root, config


def test_purge_refuses_without_yes_when_stdin_is_not_a_tty(cli_env: dict[str, str]) -> None:
    root, config = make_state(cli_env)
    done = run_cli(cli_env, "purge")
    assert done.returncode == 1
    assert "--yes" in done.stderr
    assert (root / "results.db").exists() and (root / "blobs" / "ab" / "cdef").exists() and config.exists()


def test_purge_yes_deletes_state_and_config(cli_env: dict[str, str]) -> None:
    root, config = make_state(cli_env)
    done = run_cli(cli_env, "purge", "--yes")
    assert done.returncode == 0, done.stderr
    assert not root.exists() and not config.exists()
    assert "purged" in done.stdout


def test_purge_stops_a_running_server_first(cli_env: dict[str, str], spawn_sleeper) -> None:
    make_state(cli_env)
    server = spawn_sleeper("covalent_nb-stand-in-server")
    root = record_server(cli_env, server.pid)
    done = run_cli(cli_env, "purge", "--yes")
    assert done.returncode == 0, done.stderr
    assert server.wait(timeout=10) == -signal.SIGTERM
    assert not root.exists()


def test_purge_refuses_the_home_directory(cli_env: dict[str, str], tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "precious.txt").write_text("keep me")
    cli_env.update(HOME=str(home), COVALENT_NB_DATA_DIR=str(home))
    done = run_cli(cli_env, "purge", "--yes")
    assert done.returncode == 1
    assert "refusing" in done.stderr
    assert (home / "precious.txt").read_text() == "keep me"


# ---------------------------------------------------------------- a real server


def test_stop_after_a_dispatch_leaves_no_traceback_in_the_log(tmp_path: Path) -> None:
    server = start_server(tmp_path, workers=2)
    demo = server.cli("demo")  # one dispatch on this server's Dask cluster
    assert demo.returncode == 0 and "status: COMPLETED" in demo.stdout, demo.stdout + demo.stderr
    assert server.cli("stop").returncode == 0
    log = server.cli("logs", "-n", "100000").stdout
    assert "Closing scheduler" in log  # the local cluster ran and closed with the server
    assert "Traceback" not in log, log


def test_demo_into_a_pipe_closed_early_stops_its_server_quietly(cli_env: dict[str, str]) -> None:
    # unbuffered: each line is written at once, so the writes after head has gone fail
    env = dict(cli_env, PYTHONUNBUFFERED="1")
    lines, status, stderr = pipe_into_head(env, "demo", "--port", str(free_port()))
    assert len(lines) == 1 and lines[0].startswith("starting covalent-nb dispatcher")
    assert status == 1 and "Traceback" not in stderr and "Exception ignored" not in stderr, stderr
    assert not (data_dir(env) / "server.pid").exists()  # the server the demo started is stopped
    assert run_cli(env, "status").returncode == 3


def test_gc_without_a_server(cli_env: dict[str, str]) -> None:
    nothing = run_cli(cli_env, "gc")
    assert nothing.returncode == 0 and "nothing to collect" in nothing.stdout
    from covalent_nb.server.data_lock import DataDirLock

    lock = DataDirLock(data_dir(cli_env))   # a dispatcher this command does not know holds the directory
    try:
        busy = run_cli(cli_env, "gc")
    finally:
        lock.release()
    assert busy.returncode == 1
    assert f"in use by dispatcher pid {os.getpid()}" in busy.stderr and "POST api/v1/gc" in busy.stderr
    done = run_cli(cli_env, "gc", "--grace-minutes", "0")
    assert done.returncode == 0 and "removed 0 payload(s)" in done.stdout, done.stderr
