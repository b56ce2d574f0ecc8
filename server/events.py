"""Push channel: status events fanned out to subscribers and waiters."""

from __future__ import annotations

import asyncio
from typing import Any, Callable

from .access import Identity, may_receive

__all__ = ["EventHub"]

Event = dict[str, Any]
Listener = Callable[[Event], None]


class _Subscriber:
    """One subscription: its listener, the caller it was made for, and whether it follows every user."""

    __slots__ = ("listener", "identity", "every_owner")

    def __init__(self, listener: Listener, identity: Identity, every_owner: bool) -> None:
        self.listener = listener
        self.identity = identity
        self.every_owner = every_owner


class EventHub:
    """Delivers each event to the listeners of its dispatch and of its owner.

    Events are published only after the state they describe is committed. A
    subscriber receives an event only when server/access.py lets its caller
    see it (its own, or any for an admin), whatever it subscribed to.
    """

    def __init__(self) -> None:
        self._by_dispatch: dict[str, set[_Subscriber]] = {}
        self._by_owner: dict[str, set[_Subscriber]] = {}
        self._every_owner: set[_Subscriber] = set()
        self._terminal_waiters: dict[str, list[asyncio.Future]] = {}
        self._everyone: set[Listener] = set()

    def subscribe(self, listener: Listener, *, identity: Identity, dispatch_id: str | None = None,
                  every_owner: bool = False) -> Callable[[], None]:
        """Call ``listener`` for each event of a dispatch, or of all the caller's dispatches (an admin's
        with ``every_owner``: every user's) that ``identity`` may see; returns unsubscribe.

        The caller's right to subscribe is checked before (server/access.py); this only filters.
        """
        subscriber = _Subscriber(listener, identity, every_owner and identity.is_admin and not dispatch_id)
        if dispatch_id:
            table: dict[str, set[_Subscriber]] | None
            table, key = self._by_dispatch, dispatch_id
        elif subscriber.every_owner:
            table, key = None, ""
        else:
            table, key = self._by_owner, identity.name
        group = self._every_owner if table is None else table.setdefault(key, set())
        group.add(subscriber)

        def unsubscribe() -> None:
            group.discard(subscriber)
            if table is not None and not group and table.get(key) is group:
                del table[key]
        return unsubscribe

    def subscribe_all(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` for every event of every owner (the host's own bookkeeping, never a client's)."""
        self._everyone.add(listener)
        return lambda: self._everyone.discard(listener)

    def wait_terminal(self, dispatch_id: str) -> asyncio.Future:
        """A future resolved when the dispatch reaches a terminal status."""
        fut = asyncio.get_running_loop().create_future()
        self._terminal_waiters.setdefault(dispatch_id, []).append(fut)
        return fut

    def publish(self, event: Event) -> None:
        """Deliver one event; a failing listener does not stop the others."""
        for subscriber in list(self._by_dispatch.get(event["dispatch_id"], ())):
            if may_receive(subscriber.identity, event, every_owner=subscriber.identity.is_admin):
                _deliver(subscriber.listener, event)
        for subscriber in [*self._by_owner.get(event.get("owner", ""), ()), *self._every_owner]:
            if may_receive(subscriber.identity, event, every_owner=subscriber.every_owner):
                _deliver(subscriber.listener, event)
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
