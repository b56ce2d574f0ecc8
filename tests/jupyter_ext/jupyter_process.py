"""A real ``jupyter server`` process for the tests: isolated, on a free loopback port, stopped by pid.

:func:`start_jupyter` starts one with its own config, data and runtime dirs
(and covalent-nb's) under a temporary root, a random token and, unless told
otherwise, the covalent-nb extension enabled (an editable install does not
enable it by itself). :func:`running_jupyter` is the same as a context
manager that stops it at the end.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from tests.conftest import free_port

from .kernel_client import HttpAnswer, KernelClient, http_request

__all__ = ["HttpAnswer", "JupyterServer", "http_request", "running_jupyter", "start_jupyter"]

START_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0
EXTENSION = "covalent_nb.jupyter_ext"


@dataclasses.dataclass
class JupyterServer:
    """A running ``jupyter server`` process started by :func:`start_jupyter`."""

    port: int
    token: str
    root: Path
    env: dict[str, str]
    process: subprocess.Popen
    log_path: Path

    @property
    def url(self) -> str:
        """The server's base URL, ending in ``/``."""
        return f"http://127.0.0.1:{self.port}/"

    def log(self) -> str:
        """Everything the server wrote to its log so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def request(self, method: str, path: str, payload: Any = None, token: str | None = "",
                timeout: float = 30.0) -> HttpAnswer:
        """``METHOD {url}{path}``, with the server's token unless ``token`` is given (``None``: none)."""
        return http_request(self.url + path.lstrip("/"), method, self.token if token == "" else token,
                            payload, timeout)

    def get(self, path: str, token: str | None = "") -> HttpAnswer:
        """``GET {url}{path}`` (see :meth:`request`)."""
        return self.request("GET", path, token=token)

    def status(self) -> dict[str, Any]:
        """``GET /api/status`` (``started``, ``last_activity``, ``kernels``, ...)."""
        answer = self.get("api/status")
        assert answer.status == 200, f"/api/status answered {answer.status}: {answer.body!r}\n{self.log()}"
        return answer.json()

    def start_kernel(self, timeout: float = 60.0) -> KernelClient:
        """A new kernel (``POST /api/kernels``), connected and ready to execute."""
        try:
            return KernelClient.start(self.url, self.token, timeout=timeout)
        except Exception as error:
            raise AssertionError(f"could not start a kernel: {error}\n--- server log ---\n{self.log()}") from error

    def stop(self) -> None:
        """Stop the server by its pid: SIGTERM, then SIGKILL after a grace period."""
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(STOP_TIMEOUT)


def _isolated_env(root: Path, env_extra: dict[str, str] | None) -> dict[str, str]:
    env = dict(os.environ)
    for key in ("COVALENT_NB_TOKEN", "COVALENT_NB_DISPATCHER_URL", "COVALENT_NB_DISPATCHER_TOKEN",
                "COVALENT_NB_HUB_URL", "JUPYTERHUB_API_TOKEN", "JUPYTER_PATH", "JUPYTER_CONFIG_PATH"):
        env.pop(key, None)
    dirs = {"COVALENT_NB_CONFIG_DIR": "covalent_config", "COVALENT_NB_DATA_DIR": "covalent_data",
            "JUPYTER_CONFIG_DIR": "jupyter_config", "JUPYTER_DATA_DIR": "jupyter_data",
            "JUPYTER_RUNTIME_DIR": "jupyter_runtime", "IPYTHONDIR": "ipython"}
    for key, name in dirs.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        env[key] = str(root / name)
    env.update(env_extra or {})
    return env


def _wait_until_answering(server: JupyterServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"jupyter server exited with code {server.process.returncode}\n"
                                 f"--- server log ---\n{server.log()}")
        try:
            answer = server.get("api/status")
            if answer.status == 200:
                return
            last = f"HTTP {answer.status}"
        except OSError as error:
            last = repr(error)
        time.sleep(0.2)
    server.stop()
    raise AssertionError(f"jupyter server did not answer /api/status within {timeout} s ({last})\n"
                         f"--- server log ---\n{server.log()}")


def start_jupyter(root: Path, extra_args: tuple[str, ...] = (), extension: bool = True,
                  env_extra: dict[str, str] | None = None, timeout: float = START_TIMEOUT) -> JupyterServer:
    """Start ``jupyter server`` with everything under ``root``; returns once ``/api/status`` answers.

    ``extension``: enable covalent-nb's extension on the command line, or (False) disable it
    there, since an install enables it for the whole environment.
    ``extra_args``: more command-line options (``--CovalentNB.dispatcher_url=...``).
    ``env_extra``: more environment for the server and its kernels.
    """
    root.mkdir(parents=True, exist_ok=True)
    env = _isolated_env(root, env_extra)
    (root / "notebooks").mkdir(exist_ok=True)
    port, token = free_port(), secrets.token_hex(16)
    args = [sys.executable, "-m", "jupyter", "server", "--no-browser", "--allow-root",
            "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
            f"--ServerApp.root_dir={root / 'notebooks'}", f"--IdentityProvider.token={token}"]
    enabled = "True" if extension else "False"
    args.append(f"--ServerApp.jpserver_extensions={{'{EXTENSION}': {enabled}}}")
    args.extend(extra_args)
    log_path = root / "jupyter_server.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, cwd=root)
    server = JupyterServer(port, token, root, env, process, log_path)
    _wait_until_answering(server, timeout)
    return server


@contextmanager
def running_jupyter(root: Path, extra_args: tuple[str, ...] = (), extension: bool = True,
                    env_extra: dict[str, str] | None = None) -> Iterator[JupyterServer]:
    """:func:`start_jupyter` as a context manager: the server is stopped by pid at the end."""
    server = start_jupyter(root, extra_args, extension, env_extra)
    try:
        yield server
    finally:
        server.stop()
