"""The dispatcher server as a background process: find it, start it, check it, stop it.

The server (``covalent-nb serve``) records itself in its data directory
(``server.pid``, ``server.json``, ``server.token``); this module reads those
files, so any shell on the machine can find and manage the one server that
owns a data directory.
"""

from __future__ import annotations

import dataclasses
import datetime
import errno
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from covalent_nb._config import ServerStatePaths, server_state_paths, url_host
from covalent_nb.errors import ServerProcessError

__all__ = [
    "RunningServer",
    "connect_url",
    "delete_server_state",
    "health_status",
    "is_covalent_process",
    "log_tail",
    "port_is_free",
    "read_server_token",
    "remove_stale_state",
    "running_server",
    "start_server",
    "stop_server",
    "terminate_process",
]

HEALTH_PATH = "/api/v1/health"
_LOG_LINES_ON_FAILURE = 30


@dataclasses.dataclass(frozen=True)
class RunningServer:
    """A live server process as recorded in the data directory."""

    pid: int
    url: str | None
    """Base URL from ``server.json`` (None when the server has not written it yet)."""
    address: str | None = None
    """The address it listens on, from ``server.json``."""
    port: int | None = None
    """The port it listens on, from ``server.json``."""

    @property
    def host_port(self) -> str | None:
        """``host:port`` to hand to clients as ``dispatcher_addr``."""
        return self.url.split("://", 1)[-1].rstrip("/") if self.url else None


# ---------------------------------------------------------------- finding


def is_covalent_process(pid: int) -> bool:
    """True when ``pid`` is a live process whose command line mentions covalent_nb."""
    if pid <= 0:
        return False
    if Path("/proc/self/cmdline").exists():
        cmdline = _proc_cmdline(pid)
        return b"covalent_nb" in cmdline or b"covalent-nb" in cmdline
    return _is_covalent_process_psutil(pid)


def _proc_cmdline(pid: int, attempts: int = 20) -> bytes:
    """``/proc/<pid>/cmdline`` (b"" when gone or a zombie).

    Right after exec the kernel may show an empty command line for a moment,
    so an empty read of a live process is retried briefly.
    """
    for _ in range(attempts):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            state = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
        except (OSError, IndexError):
            return b""
        if cmdline or state in (b"Z", b"X"):
            return cmdline
        time.sleep(0.01)
    return b""


def _is_covalent_process_psutil(pid: int) -> bool:
    try:
        import psutil
    except ImportError:  # cannot check the command line: trust a live pid
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        cmdline = " ".join(process.cmdline())
    except psutil.Error:
        return False
    return "covalent_nb" in cmdline or "covalent-nb" in cmdline


def _read_pid(paths: ServerStatePaths) -> int | None:
    try:
        return int(paths.pid_file.read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return None


def _read_info(paths: ServerStatePaths) -> dict:
    """``server.json`` as a dict ({} when missing or unreadable)."""
    try:
        info = json.loads(paths.info_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def _server_from_info(pid: int, info: dict) -> RunningServer:
    url, address, port = info.get("url"), info.get("address"), info.get("port")
    return RunningServer(
        pid=pid,
        url=url.rstrip("/") if isinstance(url, str) and url else None,
        address=address if isinstance(address, str) else None,
        port=port if isinstance(port, int) and not isinstance(port, bool) else None,
    )


def running_server(paths: ServerStatePaths | None = None) -> RunningServer | None:
    """The server recorded in the data directory, if its process is alive and ours."""
    paths = paths or server_state_paths()
    pid = _read_pid(paths)
    if pid is None or not is_covalent_process(pid):
        return None
    return _server_from_info(pid, _read_info(paths))


def remove_stale_state(paths: ServerStatePaths | None = None) -> bool:
    """Delete ``server.pid``/``server.json`` left by a server that is gone; True if any was."""
    paths = paths or server_state_paths()
    if not paths.pid_file.exists() and not paths.info_file.exists():
        return False
    pid = _read_pid(paths)
    if pid is not None and is_covalent_process(pid):
        return False
    paths.pid_file.unlink(missing_ok=True)
    paths.info_file.unlink(missing_ok=True)
    return True


# ---------------------------------------------------------------- probing


def connect_url(address: str, port: int) -> str:
    """The URL a local client uses to reach a server bound to ``address:port``."""
    host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(address, address)
    return f"http://{url_host(host)}:{port}"


def port_is_free(address: str, port: int) -> bool:
    """True when a server could listen on ``address:port`` now (no other listener there)."""
    try:
        infos = socket.getaddrinfo(address or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ServerProcessError(
            f"cannot resolve the address {address!r}: {exc}; pass a valid --address"
        ) from exc
    for family, kind, proto, _, sockaddr in infos:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(sockaddr)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    return False
    return True


def _free_port_near(address: str, port: int) -> int | None:
    for candidate in range(port + 1, min(port + 50, 65535) + 1):
        if port_is_free(address, candidate):
            return candidate
    return None


def health_status(url: str, token: str | None, timeout: float = 2.0) -> int | None:
    """The HTTP status of ``GET url/api/v1/health`` (None when nothing answers)."""
    request = urllib.request.Request(url.rstrip("/") + HEALTH_PATH)
    if token:
        request.add_header("Authorization", f"token {token}")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy
    try:
        with opener.open(request, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return None


def read_server_token(paths: ServerStatePaths | None = None) -> str | None:
    """The token the server wrote to its token file (None when missing or unreadable)."""
    paths = paths or server_state_paths()
    try:
        return paths.token_file.read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


# ---------------------------------------------------------------- logs


def log_tail(path: Path, lines: int) -> list[str]:
    """The last ``lines`` lines of the text file at ``path`` (read from its end)."""
    if lines <= 0:
        return []
    with open(path, "rb") as log:
        position = log.seek(0, os.SEEK_END)
        data = b""
        while position > 0 and data.count(b"\n") <= lines:
            step = min(65536, position)
            position -= step
            log.seek(position)
            data = log.read(step) + data
    return data.decode("utf-8", "replace").splitlines()[-lines:]


def _log_since(path: Path, offset: int) -> str:
    """What the log gained after ``offset``, at most its last lines."""
    try:
        with open(path, "rb") as log:
            log.seek(offset)
            text = log.read().decode("utf-8", "replace")
    except OSError:
        return "(no log written)"
    tail = text.splitlines()[-_LOG_LINES_ON_FAILURE:]
    return "\n".join("    " + line for line in tail) or "    (empty)"


# ---------------------------------------------------------------- starting


def _serve_command(address: str, port: int, workers: int, cluster: bool) -> list[str]:
    command = [sys.executable, "-m", "covalent_nb", "serve", "--address", address, "--port", str(port)]
    command += ["--workers", str(workers)]
    return command + ([] if cluster else ["--no-cluster"])


def _spawn(command: list[str], log_file: Path) -> subprocess.Popen[bytes]:
    """Start ``command`` detached from this terminal, its output appended to ``log_file``."""
    stamp = datetime.datetime.now().isoformat(timespec="seconds")
    fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)  # the owner's alone
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "ab") as log:
        log.write(f"--- {stamp} covalent-nb start: {' '.join(command[3:])}\n".encode())
        log.flush()
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        return subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, env=env,
        )


def _wait_until_healthy(
    process: subprocess.Popen[bytes], url: str, paths: ServerStatePaths, offset: int, timeout: float
) -> None:
    """Return once the server answers /health with 200; raise if it exits or times out."""
    deadline = time.monotonic() + timeout
    delay, status = 0.05, None
    while True:
        code = process.poll()
        if code is not None:
            raise ServerProcessError(
                f"the covalent-nb server exited with code {code} while starting. "
                f"The end of its log {paths.log_file}:\n{_log_since(paths.log_file, offset)}\n"
                "Fix the problem it reports, then run `covalent-nb start` again."
            )
        status = health_status(url, read_server_token(paths))
        if status == 200:
            return
        if time.monotonic() >= deadline:
            terminate_process(process)
            raise ServerProcessError(
                f"the covalent-nb server did not answer {url}{HEALTH_PATH} within {timeout:.0f} s "
                f"(last answer: {status or 'no connection'}), so it was stopped. The end of its log "
                f"{paths.log_file}:\n{_log_since(paths.log_file, offset)}"
            )
        time.sleep(delay)
        delay = min(delay * 1.5, 0.5)


def terminate_process(process: subprocess.Popen[bytes]) -> None:
    """Stop a child process: SIGTERM, then SIGKILL if it has not exited within 10 s."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def start_server(
    address: str, port: int, workers: int = 0, cluster: bool = True, timeout: float = 60.0
) -> tuple[RunningServer, bool]:
    """Start a detached server unless one runs; returns ``(server, started_now)``.

    Raises ServerProcessError when the port is taken by another program, or
    when the server exits or stays silent during start-up (with its log tail).
    """
    paths = server_state_paths()
    current = running_server(paths)
    if current is not None:
        return current, False
    remove_stale_state(paths)
    if not port_is_free(address, port):
        other = _free_port_near(address, port)
        hint = f"--port {other}" if other else "--port <another port>"
        raise ServerProcessError(
            f"port {port} on {address} is already in use by another program; "
            f"stop that program or start covalent-nb on another port, e.g. `covalent-nb start {hint}`"
        )
    paths.root.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(paths.root, 0o700)  # the server makes all in it private too as it starts
    offset = paths.log_file.stat().st_size if paths.log_file.exists() else 0
    process = _spawn(_serve_command(address, port, workers, cluster), paths.log_file)
    url = connect_url(address, port)
    _wait_until_healthy(process, url, paths, offset, timeout)
    process.returncode = 0  # detached on purpose: do not warn that it is still running
    server = _server_from_info(process.pid, _read_info(paths))
    if server.url is None:
        server = dataclasses.replace(server, url=url, address=address, port=port)
    return server, True


# ---------------------------------------------------------------- stopping


def _reap(pid: int) -> None:
    """Collect ``pid``'s exit status if it is our child (else a no-op)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        _reap(pid)
        if not is_covalent_process(pid):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def _signal(pid: int, signum: int, group: bool = False) -> None:
    try:
        if group and os.getpgid(pid) == pid:  # detached by `start`: take its workers too
            os.killpg(pid, signum)
        else:
            os.kill(pid, signum)
    except ProcessLookupError:
        pass


def stop_server(server: RunningServer, timeout: float = 20.0) -> None:
    """SIGTERM the server, SIGKILL it (and its process group) after ``timeout`` seconds."""
    _signal(server.pid, signal.SIGTERM)
    if not _wait_gone(server.pid, timeout):
        _signal(server.pid, signal.SIGKILL, group=True)
        if not _wait_gone(server.pid, 5.0):
            raise ServerProcessError(
                f"the covalent-nb server (pid {server.pid}) survived SIGKILL; "
                "check it with `ps` and stop it by hand"
            )
    remove_stale_state()


# ---------------------------------------------------------------- purging


def delete_server_state(paths: ServerStatePaths | None = None) -> list[Path]:
    """Delete everything in the data directory and the directory itself; returns what went."""
    paths = paths or server_state_paths()
    root = paths.root.resolve()
    home = Path.home().resolve()
    if root == Path(root.anchor) or root == home or root in home.parents:
        raise ServerProcessError(
            f"refusing to purge {root}: it is the home or a system directory; "
            "point COVALENT_NB_DATA_DIR or server.data_dir at a directory of its own"
        )
    if not root.is_dir():
        return []
    deleted = sorted(root.iterdir())
    for entry in deleted:
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink(missing_ok=True)
    root.rmdir()
    return deleted
