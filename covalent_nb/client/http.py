"""A small, fast HTTP client for the dispatcher API (keep-alive, one connection per thread)."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from typing import Any

from covalent_nb._config import url_host
from covalent_nb.client.discovery import DEFAULT_REMEDY
from covalent_nb.errors import (AuthenticationError, DispatcherError,
                                DispatcherUnreachableError, DispatchNotFoundError)

__all__ = ["DispatcherConnection", "IDEMPOTENCY_HEADER"]

_API = "/api/v1/"

IDEMPOTENCY_HEADER = "Idempotency-Key"
"""A POST carrying this header may be sent again when its answer is lost: the server answers a
repeat with the first request's outcome instead of doing it twice."""

EXPECT_CONTINUE_BYTES = 1024 * 1024
"""Bodies of at least this size are announced with ``Expect: 100-continue`` and sent once the server agrees.

A refused upload (over the server's limit, wrong token) then costs no
transfer, and its answer cannot be lost to a connection the server closed
mid-body.
"""
CONTINUE_WAIT_SECONDS = 2.0
"""How long to wait for ``100 Continue`` before sending the body anyway (for servers that never say it)."""

class DispatcherConnection:
    """Talks to one dispatcher at ``host:port`` (and URL ``prefix``) with a token."""

    def __init__(self, host: str, port: int, token: str | None, prefix: str = "/", timeout: float = 120.0,
                 source: str | None = None, remedy: str | None = None) -> None:
        self.host = host
        self.port = port
        self.token = token
        self.prefix = prefix if prefix.endswith("/") else prefix + "/"
        self.timeout = timeout
        self.source = source
        """Where the address came from, in words; errors name it."""
        self.remedy = remedy or DEFAULT_REMEDY
        """What to do when nothing answers at the address."""
        self._local = threading.local()

    @property
    def url(self) -> str:
        """The dispatcher's base URL."""
        return f"http://{url_host(self.host)}:{self.port}{self.prefix}"

    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is not None and conn.sock is not None and _was_closed(conn.sock):
            self._drop()  # the server closed it while idle (a restart, an idle timeout): a new one
            conn = None
        if conn is None:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            self._local.conn = conn
        return conn

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None, timeout: float | None = None) -> bytes:
        """Send one request to ``<prefix>api/v1/<path>``; return the body or raise a DispatcherError."""
        all_headers = {"Accept": "application/json"}
        if self.token:
            all_headers["Authorization"] = f"token {self.token}"
        all_headers.update(headers or {})
        for attempt in (0, 1):
            conn = self._connection()
            conn.timeout = timeout or self.timeout
            if conn.sock is not None:
                conn.sock.settimeout(conn.timeout)
            try:
                response = _exchange(conn, method, self.prefix.rstrip("/") + _API + path, body, all_headers)
                data = response.read()
                break
            except (ConnectionRefusedError, socket.gaierror, OSError, http.client.HTTPException) as exc:
                self._drop()
                refused = isinstance(exc, (ConnectionRefusedError, socket.gaierror))
                if attempt == 0 and not refused and (method in ("GET", "PUT") or IDEMPOTENCY_HEADER in all_headers):
                    continue  # idempotent (or made so by its key), the answer lost: once more
                raise DispatcherUnreachableError(self._lost_message(exc, method, None if refused else body)) from None
        if response.status >= 400:
            if body is not None or response.will_close:
                self._drop()  # the server may not have read the body: start afresh
            self._raise(response, data, method, path)
        return data

    def _came_from(self) -> str:
        return f" The address came from {self.source}." if self.source else ""

    def _lost_message(self, exc: BaseException, method: str, body_sent: bytes | None) -> str:
        cause = f"{exc.__class__.__name__}: {exc}"
        if body_sent and not isinstance(exc, TimeoutError):
            return (f"the dispatcher at {self.url} closed the connection during a {method} of {len(body_sent)} "
                    f"bytes ({cause}). Is it still running? A payload over its limit (server.max_payload_mb) "
                    f"also does this; the server's log says which.{self._came_from()}")
        return f"no covalent-nb dispatcher answers at {self.url} ({cause}).{self._came_from()} {self.remedy}"

    def _raise(self, response: http.client.HTTPResponse, data: bytes, method: str, path: str) -> None:
        """Raise the error the dispatcher answered; an answer that is not its JSON is named, never quoted."""
        status = response.status
        message = _error_message(data)
        if message is None:  # not a covalent-nb answer (an HTML page, a proxy's text): say what it was
            message = (f"{status} {response.reason or http.client.responses.get(status, '')}".rstrip()
                       + f" to {method} {self.url}{_API.lstrip('/')}{path}, which is not a covalent-nb "
                       f"dispatcher's answer: check the address.{self._came_from()}")
            if status in (401, 403):
                raise AuthenticationError(f"the server at {self.url} refused the request: {message}", status)
            raise DispatcherError(f"the server at {self.url} answered {message}", status)
        if status in (401, 403):
            raise AuthenticationError(f"the dispatcher at {self.url} refused the token: {message}"
                                      + (f" (its address came from {self.source})" if self.source else ""), status)
        if status == 404 and path.startswith("dispatches/"):
            raise DispatchNotFoundError(message, status)
        raise DispatcherError(f"the dispatcher at {self.url} answered {status}: {message}", status)

    def get_json(self, path: str, timeout: float | None = None) -> Any:
        """GET and decode JSON."""
        return self._json(self.request("GET", path, timeout=timeout), "GET", path)

    def post_json(self, path: str, payload: Any, headers: dict[str, str] | None = None) -> Any:
        """POST JSON (with ``headers`` besides) and decode the JSON answer."""
        body = json.dumps(payload, separators=(",", ":")).encode()
        sent = {"Content-Type": "application/json", **(headers or {})}
        return self._json(self.request("POST", path, body, sent), "POST", path)

    def delete_json(self, path: str) -> Any:
        """DELETE and decode the JSON answer."""
        return self._json(self.request("DELETE", path), "DELETE", path)

    def _json(self, data: bytes, method: str, path: str) -> Any:
        try:
            return json.loads(data)
        except ValueError:
            raise DispatcherError(f"the server at {self.url} answered {method} {self.url}{_API.lstrip('/')}{path} "
                                  f"with something that is not JSON, which is not a covalent-nb dispatcher's "
                                  f"answer: check the address.{self._came_from()}") from None

    def put_blob(self, key: str, data: bytes) -> None:
        """Upload one large payload by its content key."""
        self.request("PUT", f"blobs/{key}", data, {"Content-Type": "application/octet-stream"})


def _error_message(data: bytes) -> str | None:
    """The message of a JSON error answer (``{"error": ...}``, or Jupyter's ``{"message": ...}``); else None."""
    try:
        answer = json.loads(data)
    except ValueError:
        return None
    if not isinstance(answer, dict):
        return None
    for key in ("error", "message"):
        if isinstance(answer.get(key), str) and answer[key].strip():
            return answer[key].strip()
    return None


def _peek(sock: socket.socket, size: int, timeout: float) -> bytes | None:
    """Up to ``size`` bytes the server sent, left on the socket for the next read; None if none come in time.

    ``b""`` means the server closed the connection; ``timeout`` 0 looks without waiting.
    """
    previous_timeout = sock.gettimeout()
    sock.settimeout(timeout)
    try:
        return sock.recv(size, socket.MSG_PEEK)
    except (BlockingIOError, TimeoutError):
        return None
    finally:
        sock.settimeout(previous_timeout)


def _was_closed(sock: socket.socket) -> bool:
    """Whether the server has closed this idle kept-alive connection (or sent on it unasked)."""
    try:
        return _peek(sock, 1, 0) is not None
    except OSError:
        return True


def _exchange(conn: http.client.HTTPConnection, method: str, url: str, body: bytes | None,
              headers: dict[str, str]) -> http.client.HTTPResponse:
    """Send one request and return its response; a large body waits for ``100 Continue``."""
    if body is None or len(body) < EXPECT_CONTINUE_BYTES:
        conn.request(method, url, body=body, headers=headers)
        return conn.getresponse()
    conn.putrequest(method, url)
    for name, value in headers.items():
        conn.putheader(name, value)
    conn.putheader("Content-Length", str(len(body)))
    conn.putheader("Expect", "100-continue")
    conn.endheaders()
    assert conn.sock is not None
    if early_status(conn.sock, CONTINUE_WAIT_SECONDS) in (None, 100):
        conn.send(body)
    return conn.getresponse()  # skips a 100 Continue; a final answer means the body was refused unsent


def early_status(sock: socket.socket, wait: float) -> int | None:
    """The status the server answered before the request body, waiting up to ``wait`` seconds.

    100 (send it), a refusal such as 413 or 401, 0 if the server closed the
    connection or did not speak HTTP, None if it said nothing in time. Looks
    at the answer without taking it off the socket, so that ``getresponse``
    reads it whole afterwards.
    """
    deadline = time.monotonic() + wait
    status_line_start = len(b"HTTP/1.1 100")
    while (remaining := deadline - time.monotonic()) > 0:
        head = _peek(sock, status_line_start, remaining)
        if head is None:
            return None
        if not head:
            return 0
        if len(head) == status_line_start:
            return int(head[9:12]) if head[9:12].isdigit() else 0
        time.sleep(0.001)  # part of the status line: wait for the rest
    return None
