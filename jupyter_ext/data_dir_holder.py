"""The dispatcher that holds a data directory: recorded by the one that runs, found by the one that cannot.

One dispatcher runs per data directory (``dispatcher.lock`` holds its pid).
While it runs, its host records in the directory where it answers
(``server.json``: ``pid`` and ``url``) beside the token its API accepts
(``server.token``, mode 0600); the standalone server and the Jupyter
extension both do. A Jupyter server whose own dispatcher cannot start because
another holds the directory uses :func:`find_holder` to send its kernels to
that one, but only when it answers an authenticated health check as this
user's covalent-nb dispatcher.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import stat
import tempfile
import time
from pathlib import Path

from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from covalent_nb._server_process import connect_url

__all__ = ["DataDirHolder", "HOLDER_WAIT_SECONDS", "find_holder", "forget_holder", "holder_pid", "record_holder"]

LOCK_FILE = "dispatcher.lock"
STATE_FILE = "server.json"
TOKEN_FILE = "server.token"
HEALTH_PATH = "api/v1/health"

HOLDER_WAIT_SECONDS = 10.0
"""How long :func:`find_holder` waits for a holder that is still starting (no URL recorded, not answering)."""
PROBE_TIMEOUT_SECONDS = 5.0


@dataclasses.dataclass(frozen=True)
class DataDirHolder:
    """The running dispatcher of a data directory, checked to answer with its token."""

    pid: int
    url: str
    """Its API's base URL, ending in ``/`` (``<url>api/v1/...``)."""
    token: str = dataclasses.field(repr=False)


class _NotYet(Exception):
    """The holder cannot be used (yet): the message says why."""


def holder_pid(data_dir: Path) -> int | None:
    """The pid the lock file of ``data_dir`` names (the dispatcher that holds it or held it last)."""
    try:
        return int((Path(data_dir) / LOCK_FILE).read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return None


def record_holder(data_dir: Path, url: str) -> None:
    """Record this process as the dispatcher of ``data_dir``, answering at ``url``."""
    path = Path(data_dir) / STATE_FILE
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".server.json.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as tmp:
            json.dump({"pid": os.getpid(), "url": url, "host": "jupyter"}, tmp)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def forget_holder(data_dir: Path) -> None:
    """Remove this process's record from ``data_dir`` (another process's stays)."""
    path = Path(data_dir) / STATE_FILE
    try:
        if json.loads(path.read_text(encoding="utf-8")).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError, AttributeError):
        pass


def _recorded_url(data_dir: Path, pid: int) -> str:
    try:
        info = json.loads((Path(data_dir) / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        info = None
    if not isinstance(info, dict) or info.get("pid") != pid or not isinstance(info.get("url"), str):
        raise _NotYet(f"dispatcher pid {pid} has not recorded its URL in {STATE_FILE}")
    url = info["url"].rstrip("/")
    address, port = info.get("address"), info.get("port")
    if isinstance(address, str) and isinstance(port, int) and url.count("/") <= 2:
        url = connect_url(address, port)  # a standalone server bound to 0.0.0.0 is reached on 127.0.0.1
    return url + "/"


def _private_token(data_dir: Path) -> str:
    path = Path(data_dir) / TOKEN_FILE
    try:
        info = path.stat()
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise _NotYet(f"its token file {path} cannot be read ({exc.strerror})") from None
    if info.st_uid != os.getuid() or info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise _NotYet(f"its token file {path} is not private to this user (owner and mode 0600)")
    if not token:
        raise _NotYet(f"its token file {path} is empty")
    return token


async def _answers(url: str, token: str) -> None:
    request = HTTPRequest(url + HEALTH_PATH, headers={"Authorization": f"token {token}"},
                          connect_timeout=PROBE_TIMEOUT_SECONDS, request_timeout=PROBE_TIMEOUT_SECONDS,
                          follow_redirects=False)
    response = await AsyncHTTPClient().fetch(request, raise_error=False)
    if response.code == 599:
        raise _NotYet(f"nothing answers at {url} ({response.error})")
    try:
        answer = json.loads(response.body or b"")
    except ValueError:
        answer = None
    if response.code != 200 or not isinstance(answer, dict) or answer.get("status") != "ok":
        raise _NotYet(f"{url} answered {response.code} {response.reason} to an authenticated health check, "
                      "not as a covalent-nb dispatcher")


async def find_holder(data_dir: Path, wait: float = HOLDER_WAIT_SECONDS) -> tuple[DataDirHolder | None, str]:
    """``(holder, "")`` when ``data_dir``'s dispatcher answers with its token; else ``(None, why not)``.

    A holder that is still starting (no URL recorded yet, not answering yet)
    is given up to ``wait`` seconds.
    """
    deadline = time.monotonic() + wait
    while True:
        pid = holder_pid(data_dir)
        try:
            if pid is None:
                raise _NotYet(f"no dispatcher has recorded its pid in {Path(data_dir) / LOCK_FILE}")
            if pid == os.getpid():
                return None, f"no other dispatcher holds {data_dir}"
            url = _recorded_url(data_dir, pid)
            token = _private_token(data_dir)
            await _answers(url, token)
            return DataDirHolder(pid, url, token), ""
        except _NotYet as why:
            if time.monotonic() >= deadline:
                return None, str(why)
        await asyncio.sleep(0.25)
