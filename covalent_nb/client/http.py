"""A small, fast HTTP client for the dispatcher API (keep-alive, one connection per thread)."""

from __future__ import annotations

import http.client
import json
import socket
import threading
from typing import Any, Iterable

from covalent_nb._config import url_host
from covalent_nb.errors import (AuthenticationError, DispatcherError,
                                DispatcherUnreachableError, DispatchNotFoundError)

__all__ = ["DispatcherConnection"]

_API = "/api/v1/"


class DispatcherConnection:
    """Talks to one dispatcher at ``host:port`` (and URL ``prefix``) with a token."""

    def __init__(self, host: str, port: int, token: str | None, prefix: str = "/", timeout: float = 120.0) -> None:
        self.host = host
        self.port = port
        self.token = token
        self.prefix = prefix if prefix.endswith("/") else prefix + "/"
        self.timeout = timeout
        self._local = threading.local()

    @property
    def url(self) -> str:
        """The dispatcher's base URL."""
        return f"http://{url_host(self.host)}:{self.port}{self.prefix}"

    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            self._local.conn = conn
        return conn

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def request(self, method: str, path: str, body: bytes | Iterable[bytes] | None = None,
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
                conn.request(method, self.prefix.rstrip("/") + _API + path, body=body, headers=all_headers)
                response = conn.getresponse()
                data = response.read()
                break
            except (ConnectionRefusedError, socket.gaierror, OSError, http.client.HTTPException) as exc:
                self._drop()
                stale = attempt == 0 and not isinstance(exc, (ConnectionRefusedError, socket.gaierror))
                if stale and method in ("GET", "PUT"):
                    continue  # idempotent, on a kept-alive connection the server had closed: once more
                raise DispatcherUnreachableError(
                    f"no covalent-nb dispatcher answers at {self.url} ({exc.__class__.__name__}: {exc}). "
                    "Start one with `covalent-nb start`, or point the client at a running one with "
                    "ct.set_config({'dispatcher.address': ..., 'dispatcher.port': ...}) or "
                    "dispatcher_addr='host:port'.") from None
        if response.status >= 400:
            if body is not None or response.will_close:
                self._drop()  # the server may not have read the body: start afresh
            self._raise(response.status, data, path)
        return data

    def _raise(self, status: int, data: bytes, path: str) -> None:
        try:
            message = json.loads(data)["error"]
        except (ValueError, KeyError, TypeError):
            message = data.decode(errors="replace")[:500] or f"HTTP {status}"
        if status in (401, 403):
            raise AuthenticationError(f"the dispatcher at {self.url} refused the token: {message}", status)
        if status == 404 and path.startswith("dispatches/"):
            raise DispatchNotFoundError(message, status)
        raise DispatcherError(f"the dispatcher at {self.url} answered {status}: {message}", status)

    def get_json(self, path: str, timeout: float | None = None) -> Any:
        """GET and decode JSON."""
        return json.loads(self.request("GET", path, timeout=timeout))

    def post_json(self, path: str, payload: Any) -> Any:
        """POST JSON and decode the JSON answer."""
        body = json.dumps(payload, separators=(",", ":")).encode()
        return json.loads(self.request("POST", path, body, {"Content-Type": "application/json"}))

    def put_blob(self, key: str, data: bytes) -> None:
        """Upload one large payload by its content key."""
        self.request("PUT", f"blobs/{key}", data, {"Content-Type": "application/octet-stream"})
