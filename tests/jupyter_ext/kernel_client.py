"""A small client for one kernel of a Jupyter server, over its REST API and kernel websocket.

The kernel is started with ``POST /api/kernels``; code is sent as
``execute_request`` messages (Jupyter messaging protocol v5, the JSON form of
``/api/kernels/{id}/channels``), and the iopub ``stream``,
``execute_result``, ``display_data`` and ``error`` messages of that request
are collected until the kernel reports ``status: idle`` for it. Every wait is
bounded. Uses tornado's websocket client on a private event loop, so tests
call it synchronously.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from typing import Any

from tornado.httpclient import HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect

__all__ = ["HttpAnswer", "KernelClient", "KernelTimeout", "Outcome", "http_request"]

PROTOCOL_VERSION = "5.3"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@dataclasses.dataclass(frozen=True)
class HttpAnswer:
    """An HTTP response: its status and body (``json()`` decodes it)."""

    status: int
    body: bytes

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body)


def http_request(url: str, method: str = "GET", token: str | None = None, payload: Any = None,
                 timeout: float = 30.0) -> HttpAnswer:
    """One HTTP call; ``token`` goes in ``Authorization: token ...``; 4xx/5xx are answers, not errors."""
    headers = {"Authorization": f"token {token}"} if token else {}
    data = None
    if payload is not None:
        data = json.dumps(payload).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return HttpAnswer(response.status, response.read())
    except urllib.error.HTTPError as error:
        return HttpAnswer(error.code, error.read())


@dataclasses.dataclass
class Outcome:
    """What one execution printed and returned, and its error (``None`` when it succeeded)."""

    stdout: str = ""
    stderr: str = ""
    results: list[str] = dataclasses.field(default_factory=list)
    error: str | None = None

    def __str__(self) -> str:
        return (f"stdout:\n{self.stdout}\nstderr:\n{self.stderr}\nresults: {self.results!r}\n"
                f"error:\n{self.error}")


class KernelTimeout(TimeoutError):
    """The kernel did not finish an execution (or get ready) in time; carries what it produced."""

    def __init__(self, message: str, outcome: Outcome | None = None) -> None:
        super().__init__(f"{message}\n{outcome}" if outcome else message)
        self.outcome = outcome


def _message(msg_type: str, session: str, content: dict[str, Any]) -> dict[str, Any]:
    header = {"msg_id": uuid.uuid4().hex, "username": "tests", "session": session,
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
              "msg_type": msg_type, "version": PROTOCOL_VERSION}
    return {"header": header, "parent_header": {}, "metadata": {}, "content": content,
            "channel": "shell", "buffers": []}


def _collect(outcome: Outcome, msg: dict[str, Any]) -> None:
    """Add one iopub message's output to ``outcome``."""
    kind, content = msg["msg_type"], msg.get("content", {})
    if kind == "stream":
        if content.get("name") == "stderr":
            outcome.stderr += content.get("text", "")
        else:
            outcome.stdout += content.get("text", "")
    elif kind in ("execute_result", "display_data"):
        outcome.results.append(content.get("data", {}).get("text/plain", ""))
    elif kind == "error":
        traceback = _ANSI.sub("", "\n".join(content.get("traceback", [])))
        outcome.error = f"{content.get('ename')}: {content.get('evalue')}\n{traceback}"


class KernelClient:
    """One kernel on a Jupyter server: :meth:`execute` code, :meth:`restart`, :meth:`shutdown`."""

    def __init__(self, base_url: str, token: str, kernel_id: str) -> None:
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.token = token
        self.kernel_id = kernel_id
        self.session = uuid.uuid4().hex
        self._loop = asyncio.new_event_loop()
        self._ws: WebSocketClientConnection | None = None

    @classmethod
    def start(cls, base_url: str, token: str, kernel_name: str | None = None,
              timeout: float = 60.0) -> "KernelClient":
        """Start a kernel with ``POST /api/kernels`` and wait (bounded) until it answers."""
        base_url = base_url if base_url.endswith("/") else base_url + "/"
        payload = {"name": kernel_name} if kernel_name else {}
        answer = http_request(base_url + "api/kernels", "POST", token, payload, timeout=timeout)
        if answer.status != 201:
            raise RuntimeError(f"POST /api/kernels answered {answer.status}: {answer.body!r}")
        client = cls(base_url, token, answer.json()["id"])
        try:
            client.connect(timeout)
        except BaseException:
            client.shutdown()
            raise
        return client

    # -- the websocket ---------------------------------------------------------------------------

    def _ws_url(self) -> str:
        query = urllib.parse.urlencode({"session_id": self.session, "token": self.token})
        http_url = f"{self.base_url}api/kernels/{self.kernel_id}/channels?{query}"
        return "ws" + http_url[len("http"):]

    def connect(self, timeout: float = 60.0) -> None:
        """(Re)open the channels websocket and wait until the kernel answers ``kernel_info``."""
        self._close_ws()
        self._loop.run_until_complete(self._connect(timeout))

    async def _connect(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        request = HTTPRequest(self._ws_url(), connect_timeout=timeout, request_timeout=timeout)
        self._ws = await asyncio.wait_for(websocket_connect(request), timeout)
        while True:  # a kernel just started or restarted may miss the first request: ask again
            msg = _message("kernel_info_request", self.session, {})
            await self._ws.write_message(json.dumps(msg))
            wait_until = min(deadline, time.monotonic() + 2.0)
            if await self._await_reply(msg["header"]["msg_id"], "kernel_info_reply", wait_until):
                return
            if time.monotonic() >= deadline:
                raise KernelTimeout(f"kernel {self.kernel_id} did not answer kernel_info within {timeout} s")

    async def _read(self, deadline: float) -> dict[str, Any] | None:
        """The next JSON message, or ``None`` at the deadline; binary frames are skipped."""
        assert self._ws is not None
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            try:
                raw = await asyncio.wait_for(self._ws.read_message(), remaining)
            except asyncio.TimeoutError:
                return None
            if raw is None:
                raise ConnectionError(f"the kernel websocket closed ({self._ws.close_code} "
                                      f"{self._ws.close_reason})")
            if isinstance(raw, str):
                return json.loads(raw)

    async def _await_reply(self, msg_id: str, reply_type: str, deadline: float) -> bool:
        while (msg := await self._read(deadline)) is not None:
            if msg.get("parent_header", {}).get("msg_id") == msg_id and msg["msg_type"] == reply_type:
                return True
        return False

    def _close_ws(self) -> None:
        if self._ws is not None:
            self._ws.close()
            self._ws = None

    # -- public operations -----------------------------------------------------------------------

    def execute(self, code: str, timeout: float = 60.0) -> Outcome:
        """Run ``code`` in the kernel; returns its outputs once the kernel is idle again (bounded)."""
        if self._ws is None:
            self.connect(timeout)
        return self._loop.run_until_complete(self._execute(code, timeout))

    async def _execute(self, code: str, timeout: float) -> Outcome:
        assert self._ws is not None
        content = {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                   "allow_stdin": False, "stop_on_error": True}
        msg = _message("execute_request", self.session, content)
        msg_id = msg["header"]["msg_id"]
        await self._ws.write_message(json.dumps(msg))
        outcome = Outcome()
        deadline = time.monotonic() + timeout
        while (reply := await self._read(deadline)) is not None:
            if reply.get("parent_header", {}).get("msg_id") != msg_id or reply.get("channel") != "iopub":
                continue
            if reply["msg_type"] == "status" and reply["content"].get("execution_state") == "idle":
                return outcome
            _collect(outcome, reply)
        raise KernelTimeout(f"kernel {self.kernel_id} did not finish within {timeout} s", outcome)

    def restart(self, timeout: float = 60.0) -> None:
        """``POST /api/kernels/{id}/restart``, then reconnect once the new kernel answers."""
        self._close_ws()
        answer = http_request(f"{self.base_url}api/kernels/{self.kernel_id}/restart", "POST", self.token,
                              {}, timeout=timeout)
        if answer.status != 200:
            raise RuntimeError(f"restarting kernel {self.kernel_id} answered {answer.status}: {answer.body!r}")
        self.connect(timeout)

    def shutdown(self, timeout: float = 30.0) -> None:
        """``DELETE /api/kernels/{id}`` and close the connection (safe to call twice)."""
        self._close_ws()
        if not self._loop.is_closed():
            self._loop.run_until_complete(asyncio.sleep(0))  # let the close frame go out
            self._loop.close()
        answer = http_request(f"{self.base_url}api/kernels/{self.kernel_id}", "DELETE", self.token,
                              timeout=timeout)
        if answer.status not in (204, 404):
            raise RuntimeError(f"shutting down kernel {self.kernel_id} answered {answer.status}: {answer.body!r}")
