"""Push channel: status events fanned out to subscribers and waiters."""

from __future__ import annotations

import asyncio
from typing import Any, Callable

__all__ = ["EventHub"]

Event = dict[str, Any]
Listener = Callable[[Event], None]


class EventHub:
    """Delivers each event to the listeners of its dispatch and of its owner.

    Events are published only after the state they describe is committed.
    """

    def __init__(self) -> None:
        self._by_dispatch: dict[str, set[Listener]] = {}
        self._by_owner: dict[str, set[Listener]] = {}
        self._terminal_waiters: dict[str, list[asyncio.Future]] = {}
        self._everyone: set[Listener] = set()

    def subscribe(self, listener: Listener, *, owner: str, dispatch_id: str | None = None) -> Callable[[], None]:
        """Call ``listener`` for each event of a dispatch (or all of an owner's); returns unsubscribe."""
        table, key = (self._by_dispatch, dispatch_id) if dispatch_id else (self._by_owner, owner)
        table.setdefault(key, set()).add(listener)

        def unsubscribe() -> None:
            listeners = table.get(key)
            if listeners is not None:
                listeners.discard(listener)
                if not listeners:
                    del table[key]
        return unsubscribe

    def subscribe_all(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` for every event of every owner (the host's own bookkeeping)."""
        self._everyone.add(listener)
        return lambda: self._everyone.discard(listener)

    def wait_terminal(self, dispatch_id: str) -> asyncio.Future:
        """A future resolved when the dispatch reaches a terminal status."""
        fut = asyncio.get_running_loop().create_future()
        self._terminal_waiters.setdefault(dispatch_id, []).append(fut)
        return fut

    def publish(self, event: Event) -> None:
        """Deliver one event; a failing listener does not stop the others."""
        for listener in list(self._by_dispatch.get(event["dispatch_id"], ())):
            _deliver(listener, event)
        for listener in list(self._by_owner.get(event.get("owner", ""), ())):
            _deliver(listener, event)
        for listener in list(self._everyone):
            _deliver(listener, event)
        if event["type"] == "dispatch" and event.get("terminal"):
            for fut in self._terminal_waiters.pop(event["dispatch_id"], []):
                if not fut.done():
                    fut.set_result(event)


def _deliver(listener: Listener, event: Event) -> None:
    try:
        listener(event)
    except Exception:  # a broken subscriber must not break the dispatcher
        import logging
        logging.getLogger(__name__).exception("event listener failed")
