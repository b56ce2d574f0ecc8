"""One event connection per dispatcher per kernel, shared by every live widget.

An :class:`EventStream` holds a single WebSocket to ``<url>api/v1/events``
(all of the token owner's events, no ``dispatch_id``) and hands each event to
the listeners registered for its dispatch. It runs as one asyncio task on the
kernel's loop, started when the first listener registers and stopped when the
last one leaves. When the connection drops it reconnects with back-off, a
bounded number of times, and then tells its listeners it gave up.

Each time the socket (re)opens, every listener's ``on_stream_open`` is called:
that is when a widget re-reads its dispatch once, which closes the gap between
the snapshot it was drawn from and the first event it receives.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, Awaitable, Callable, Protocol

__all__ = ["EventListener", "EventSocket", "EventStream", "RETRY_DELAYS", "STABLE_SECONDS",
           "active_streams", "open_websocket", "stream_for"]

log = logging.getLogger(__name__)

RETRY_DELAYS: tuple[float, ...] = (0.2, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0)
"""Seconds to wait before each reconnection attempt; after the last one the stream gives up."""

STABLE_SECONDS = 10.0
"""A connection that lasted this long before dropping starts the back-off afresh; shorter ones count
as failed attempts, so a server that accepts and drops at once is not retried forever."""


class EventSocket(Protocol):
    """What the stream needs of a WebSocket connection (tornado's client connection fits)."""

    def read_message(self) -> Awaitable[str | bytes | None]:
        """The next message; None once the connection is closed."""

    def close(self) -> None:
        """Close the connection (a pending ``read_message`` then returns None)."""


Connect = Callable[[str, "str | None"], Awaitable[EventSocket]]


class EventListener(Protocol):
    """A subscriber to one dispatch's events (a live widget)."""

    dispatch_id: str

    def on_event(self, event: dict[str, Any]) -> None:
        """One status event of ``dispatch_id``."""

    def on_stream_open(self) -> None:
        """The connection (re)opened: events may have been missed, re-read the state once."""

    def on_stream_lost(self, reason: str) -> None:
        """The stream gave up reconnecting; no more events will come."""


async def open_websocket(ws_url: str, token: str | None) -> EventSocket:
    """Open the events WebSocket with tornado, sending the token in the Authorization header."""
    import tornado.httpclient
    import tornado.websocket

    headers = {"Authorization": f"token {token}"} if token else {}
    request = tornado.httpclient.HTTPRequest(ws_url, headers=headers, connect_timeout=10)
    return await tornado.websocket.websocket_connect(request, ping_interval=30)


_streams: dict[tuple[str, str | None], "EventStream"] = {}


def stream_for(url: str, token: str | None, connect: Connect | None = None) -> "EventStream":
    """The one stream for the dispatcher at ``url`` (its base URL) with ``token``, made on first use.

    ``connect`` (tests) replaces :func:`open_websocket` when the stream is made here.
    """
    url = url if url.endswith("/") else url + "/"
    key = (url, token)
    stream = _streams.get(key)
    if stream is None:
        stream = _streams[key] = EventStream(url, token, connect or open_websocket)
    return stream


def active_streams() -> list["EventStream"]:
    """The streams of this process that have listeners or a connection."""
    return [s for s in _streams.values() if s.running]


class EventStream:
    """The shared event connection to one dispatcher (see the module docstring)."""

    def __init__(self, url: str, token: str | None, connect: Connect = open_websocket,
                 retry_delays: tuple[float, ...] = RETRY_DELAYS) -> None:
        self.url = url if url.endswith("/") else url + "/"
        self.token = token
        self.retry_delays = retry_delays
        #: how many times a WebSocket was opened
        self.connections = 0
        self._connect = connect
        self._listeners: dict[str, set[EventListener]] = {}
        self._socket: EventSocket | None = None
        self._task: asyncio.Task | None = None

    @property
    def ws_url(self) -> str:
        """``ws://.../api/v1/events``."""
        scheme, rest = self.url.split("://", 1)
        return f"{'wss' if scheme == 'https' else 'ws'}://{rest}api/v1/events"

    @property
    def running(self) -> bool:
        """True while the stream's task is alive."""
        return self._task is not None and not self._task.done()

    @property
    def connected(self) -> bool:
        """True while the WebSocket is open."""
        return self._socket is not None

    def listener_count(self) -> int:
        """How many listeners are registered."""
        return sum(len(group) for group in self._listeners.values())

    def register(self, listener: EventListener) -> None:
        """Route ``listener.dispatch_id``'s events to ``listener``; starts the connection if needed.

        Needs a running asyncio loop (a Jupyter kernel has one); raises RuntimeError otherwise.
        """
        loop = asyncio.get_running_loop()
        _streams.setdefault((self.url, self.token), self)
        self._listeners.setdefault(listener.dispatch_id, set()).add(listener)
        if not self.running:
            self._task = loop.create_task(self._run())
        elif self._socket is not None:
            loop.call_soon(_safely, listener.on_stream_open)

    def unregister(self, listener: EventListener) -> None:
        """Stop routing to ``listener``; the last one to leave closes the connection."""
        group = self._listeners.get(listener.dispatch_id)
        if group is not None:
            group.discard(listener)
            if not group:
                del self._listeners[listener.dispatch_id]
        if not self._listeners and self._socket is not None:
            socket, self._socket = self._socket, None
            socket.close()

    async def _run(self) -> None:
        failures = 0
        loop = asyncio.get_running_loop()
        try:
            while self._listeners:
                if failures:
                    if failures > len(self.retry_delays):
                        self._give_up(f"the event connection to {self.url} failed {failures} times")
                        return
                    await asyncio.sleep(self.retry_delays[failures - 1])
                    if not self._listeners:
                        return
                try:
                    socket = await self._connect(self.ws_url, self.token)
                except Exception as exc:  # refused, DNS, HTTP error: try again later
                    if getattr(exc, "code", None) in (401, 403, 404):
                        self._give_up(f"the dispatcher at {self.url} refused the event connection ({exc})")
                        return
                    log.debug("event connection to %s failed: %s", self.ws_url, exc)
                    failures += 1
                    continue
                if not self._listeners:
                    socket.close()
                    return
                self.connections += 1
                self._socket = socket
                opened_at = loop.time()
                for listener in self._all_listeners():
                    _safely(listener.on_stream_open)
                try:
                    await self._read(socket)
                except Exception as exc:  # a broken connection reads as a drop
                    log.debug("event connection to %s broke: %s", self.ws_url, exc)
                if self._socket is socket:  # dropped by the other end, not closed by us
                    self._socket = None
                    stable = loop.time() - opened_at >= STABLE_SECONDS
                    failures = 1 if stable else failures + 1
        finally:
            self._socket = None
            if not self._listeners and _streams.get((self.url, self.token)) is self:
                del _streams[(self.url, self.token)]

    async def _read(self, socket: EventSocket) -> None:
        while True:
            message = await socket.read_message()
            if message is None:
                return
            try:
                event = json.loads(message)
            except ValueError:
                continue
            for listener in list(self._listeners.get(event.get("dispatch_id"), ())):
                _safely(listener.on_event, event)

    def _all_listeners(self) -> list[EventListener]:
        return [listener for group in self._listeners.values() for listener in group]

    def _give_up(self, reason: str) -> None:
        listeners = self._all_listeners()
        self._listeners.clear()
        for listener in listeners:
            _safely(listener.on_stream_lost, reason)


def _safely(function: Callable[..., Any], *args: Any) -> None:
    try:
        function(*args)
    except Exception:  # one broken widget must not stop the others' updates
        log.exception("event listener failed")
