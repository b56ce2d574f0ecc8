"""The shared event stream: one connection, routing, stop with the last listener, reconnects;
and live widgets against a real dispatcher."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import covalent_nb as ct
from covalent_nb.client.connect import connection
from covalent_nb.notebook.live import EventStream, active_streams, open_websocket, stream_for
from covalent_nb.notebook.widget import DispatchWidget, show_dispatch


class FakeSocket:
    """Stands in for the dispatcher's WebSocket in the unit tests (the last test uses the real one)."""

    def __init__(self) -> None:
        self.messages: asyncio.Queue[str | None] = asyncio.Queue()
        self.closed = False

    async def read_message(self) -> str | None:
        return await self.messages.get()

    def push(self, event: dict[str, Any]) -> None:
        self.messages.put_nowait(json.dumps(event))

    def drop(self) -> None:
        """The server closes the connection."""
        self.messages.put_nowait(None)

    def close(self) -> None:
        self.closed = True
        self.messages.put_nowait(None)


class FakeDispatcher:
    """Hands out FakeSockets and counts connection attempts; fails while ``refuse`` is set."""

    def __init__(self) -> None:
        self.sockets: list[FakeSocket] = []
        self.attempts: list[tuple[str, str | None]] = []
        self.refuse = False

    async def connect(self, url: str, token: str | None) -> FakeSocket:
        self.attempts.append((url, token))
        if self.refuse:
            raise ConnectionRefusedError("refused")
        self.sockets.append(FakeSocket())
        return self.sockets[-1]


class Listener:
    """Records what the stream tells it."""

    def __init__(self, dispatch_id: str) -> None:
        self.dispatch_id = dispatch_id
        self.events: list[dict[str, Any]] = []
        self.opened = 0
        self.lost: list[str] = []

    def on_event(self, event: dict[str, Any]) -> None:
        self.events.append(event)

    def on_stream_open(self) -> None:
        self.opened += 1

    def on_stream_lost(self, reason: str) -> None:
        self.lost.append(reason)


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_listeners_share_one_connection_and_get_only_their_events() -> None:
    dispatcher = FakeDispatcher()
    stream = EventStream("http://127.0.0.1:9/prefix", "secret", dispatcher.connect)
    a, b = Listener("dispatch-a"), Listener("dispatch-b")

    async def run() -> None:
        stream.register(a)
        stream.register(b)
        await settle()
        dispatcher.sockets[0].push({"type": "node", "dispatch_id": "dispatch-a", "node_id": 1, "status": "RUNNING"})
        dispatcher.sockets[0].push({"type": "node", "dispatch_id": "dispatch-c", "node_id": 1, "status": "RUNNING"})
        dispatcher.sockets[0].push({"type": "dispatch", "dispatch_id": "dispatch-b", "status": "COMPLETED"})
        await settle()
        late = Listener("dispatch-a")
        stream.register(late)              # already connected: told to re-read at once
        await settle()
        assert late.opened == 1

    asyncio.run(run())
    assert dispatcher.attempts == [("ws://127.0.0.1:9/prefix/api/v1/events", "secret")]
    assert stream.connections == 1
    assert [e["node_id"] for e in a.events] == [1] and a.opened == 1
    assert [e["status"] for e in b.events] == ["COMPLETED"] and b.opened == 1


def test_the_last_listener_to_leave_closes_the_connection() -> None:
    dispatcher = FakeDispatcher()
    stream = stream_for("http://127.0.0.1:9/", "t1", dispatcher.connect)
    a, b = Listener("x"), Listener("y")

    async def run() -> None:
        stream.register(a)
        stream.register(b)
        await settle()
        assert stream in active_streams() and stream.connected
        stream.unregister(a)
        await settle()
        assert not dispatcher.sockets[0].closed and stream.running
        stream.unregister(b)
        await settle()

    asyncio.run(run())
    assert dispatcher.sockets[0].closed
    assert not stream.running and stream not in active_streams()
    assert stream_for("http://127.0.0.1:9/", "t1") is not stream   # forgotten: the next one is new


def test_a_dropped_connection_reconnects_and_listeners_re_read() -> None:
    dispatcher = FakeDispatcher()
    stream = EventStream("http://127.0.0.1:9/", None, dispatcher.connect, retry_delays=(0.01, 0.01))
    a = Listener("x")

    async def run() -> None:
        stream.register(a)
        await settle()
        dispatcher.sockets[0].drop()
        await asyncio.sleep(0.1)
        dispatcher.sockets[1].push({"type": "node", "dispatch_id": "x", "node_id": 2, "status": "COMPLETED"})
        await settle()
        stream.unregister(a)
        await settle()

    asyncio.run(run())
    assert len(dispatcher.attempts) == 2 and stream.connections == 2
    assert a.opened == 2 and [e["node_id"] for e in a.events] == [2]
    assert a.lost == []


def test_reconnecting_is_bounded_and_listeners_are_told() -> None:
    dispatcher = FakeDispatcher()
    dispatcher.refuse = True
    stream = EventStream("http://127.0.0.1:9/", None, dispatcher.connect, retry_delays=(0.001, 0.002, 0.003))
    a = Listener("x")

    async def run() -> None:
        stream.register(a)
        await asyncio.sleep(0.2)

    asyncio.run(run())
    assert len(dispatcher.attempts) == 4                   # the first try and three retries
    assert len(a.lost) == 1 and "failed 4 times" in a.lost[0]
    assert not stream.running and stream.listener_count() == 0


def test_a_server_that_drops_every_connection_at_once_is_not_retried_forever() -> None:
    dispatcher = FakeDispatcher()
    stream = EventStream("http://127.0.0.1:9/", None, dispatcher.connect, retry_delays=(0.001, 0.001))
    a = Listener("x")

    async def run() -> None:
        stream.register(a)
        for _ in range(20):
            await asyncio.sleep(0.01)
            for socket in dispatcher.sockets:
                socket.drop()

    asyncio.run(run())
    assert stream.connections == 3 and a.opened == 3
    assert len(a.lost) == 1 and not stream.running


def test_a_refused_token_gives_up_at_once() -> None:
    class Refused(Exception):
        code = 403

    attempts = []

    async def connect(url: str, token: str | None):
        attempts.append(url)
        raise Refused("HTTP 403: Forbidden")

    stream = EventStream("http://127.0.0.1:9/", "wrong", connect, retry_delays=(0.001,) * 5)
    a = Listener("x")

    async def run() -> None:
        stream.register(a)
        await asyncio.sleep(0.05)

    asyncio.run(run())
    assert len(attempts) == 1 and "refused the event connection" in a.lost[0]


@ct.electron
def pause(x: int, seconds: float) -> int:
    import time
    time.sleep(seconds)
    return x * 10


@ct.electron
def total(values: list[int]) -> int:
    return sum(values)


@ct.lattice
def slow_sum(seconds: float) -> int:
    return total([pause(i, seconds) for i in range(3)])


def test_two_live_widgets_share_one_real_connection_and_reach_completed(server) -> None:
    conn = connection()
    opened: list[str] = []

    async def counting_connect(url: str, token: str | None):
        opened.append(url)
        return await open_websocket(url, token)

    async def run() -> tuple[DispatchWidget, DispatchWidget, EventStream]:
        assert not active_streams()
        stream = stream_for(conn.url, conn.token, counting_connect)
        assert stream.connections == 0
        first = ct.dispatch(slow_sum)(0.6)
        second = ct.dispatch(slow_sum)(0.6)
        widgets = show_dispatch(first), show_dispatch(second)
        assert all(w.live for w in widgets) and stream.listener_count() == 2
        done = asyncio.get_running_loop().create_future()

        def check(_change: Any = None) -> None:
            if all(w.status == "COMPLETED" for w in widgets) and not done.done():
                done.set_result(None)
        for widget in widgets:
            widget.observe(check, "status")
        check()
        await asyncio.wait_for(done, timeout=120)
        await asyncio.sleep(0.1)                           # the stream's task ends after the last leaves
        return widgets[0], widgets[1], stream

    first, second, stream = asyncio.run(run())
    assert opened == [conn.url.replace("http://", "ws://") + "api/v1/events"]
    assert stream.connections == 1
    for widget in (first, second):
        # three pauses and the total; the list gathering the pauses is not a task
        assert widget.counts == {"done": 4, "failed": 0, "running": 0, "pending": 0, "cancelled": 0, "total": 4}
        assert widget.live is False and widget.svg_renders == 1
        assert widget.events_applied >= 1                   # it followed pushed events, not only re-reads
        assert set(widget.node_statuses.values()) == {"COMPLETED"}
    assert not stream.running and not active_streams()

    async def show_finished() -> DispatchWidget:
        return show_dispatch(first.dispatch_id)

    finished = asyncio.run(show_finished())
    assert finished.status == "COMPLETED" and finished.live is False
    assert not active_streams() and opened == [opened[0]]  # a finished dispatch: no connection
    finished.selected_node = next(n for n in finished._dispatch_view["nodes"] if n["name"] == "total")["node_id"]
    assert ">30</pre>" in finished._details.value          # the output, fetched on selection: 0+10+20
