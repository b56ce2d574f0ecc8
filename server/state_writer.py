"""Status changes, written before they are announced.

Every change of a running dispatch goes through :class:`StateWriter`: it is
checked against the state machine, written to the store inside the turn's
transaction (many task completions, one commit: see the store's transaction
discipline), and its event is published only after that transaction commits.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from covalent_nb._status import TERMINAL, Status

from .events import EventHub
from .run_state import DispatchRun, NodeRun
from .states import check_dispatch_transition, check_node_transition
from .store import ResultStore

__all__ = ["StateWriter"]


class StateWriter:
    """Grouped, checked writes of dispatch and task states, and their events."""

    def __init__(self, store: ResultStore, hub: EventHub) -> None:
        self.store = store
        self.hub = hub
        self._scheduled = False
        self._events: list[dict[str, Any]] = []

    def begin(self) -> None:
        """Join this turn's transaction (committed by :meth:`flush`, scheduled at once)."""
        self.store.join()
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        """Commit pending state changes, then publish their events.

        Called inside a store transaction block, it commits nothing and
        publishes nothing: it runs again on the next turn.
        """
        if not self.store.commit_turn():
            asyncio.get_running_loop().call_soon(self.flush)
            return
        self._scheduled = False
        events, self._events = self._events, []
        for event in events:
            self.hub.publish(event)

    def set_node(self, run: DispatchRun, node: NodeRun, status: Status, **fields: Any) -> None:
        """Move a task to ``status`` (IllegalTransition if the table forbids it)."""
        check_node_transition(node.status, status)
        was_finished = node.finished
        self.begin()
        node.status = status
        self.store.update_node(run.id, node.id, status=status.value, **fields)
        if status in TERMINAL and not was_finished:
            run.unfinished -= 1
        self._events.append({"type": "node", "owner": run.owner, "dispatch_id": run.id,
                             "node_id": node.id, "name": node.name, "status": status.value,
                             "time": time.time()})

    def set_dispatch(self, run: DispatchRun, status: Status, **fields: Any) -> None:
        """Move a dispatch to ``status`` (IllegalTransition if the table forbids it)."""
        check_dispatch_transition(run.status, status)
        self.begin()
        run.status = status
        self.store.update_dispatch(run.id, status=status.value, **fields)
        self._events.append({"type": "dispatch", "owner": run.owner, "dispatch_id": run.id,
                             "status": status.value, "terminal": status in TERMINAL,
                             "time": time.time()})
