"""What a widget knows about one dispatch, kept current from a snapshot and status events."""

from __future__ import annotations

from typing import Any, Mapping

from covalent_nb._status import TERMINAL

from .node_kinds import describe_nodes, is_user_task

__all__ = ["DispatchState", "progress_counts"]

_TERMINAL = {s.value for s in TERMINAL}
_RANK = {"NEW_OBJECT": 0, "STARTING": 1, "PENDING_REUSE": 1, "RUNNING": 2}


def _rank(status: str) -> int:
    return 3 if status in _TERMINAL else _RANK.get(status, 2)


def progress_counts(statuses: Mapping[int, str], kinds: Mapping[int, str]) -> dict[str, int]:
    """done / failed / running / pending / cancelled / total over the user's tasks.

    Only electrons and sublattices count (see :func:`~.node_kinds.is_user_task`):
    parameters and the helper nodes made for collections, items, attributes and
    arithmetic are not tasks the user wrote.
    """
    counts = {"done": 0, "failed": 0, "running": 0, "pending": 0, "cancelled": 0, "total": 0}
    for node_id, status in statuses.items():
        if not is_user_task(kinds.get(node_id, "")):
            continue
        counts["total"] += 1
        if status == "COMPLETED":
            counts["done"] += 1
        elif status in ("FAILED", "POSTPROCESSING_FAILED"):
            counts["failed"] += 1
        elif status == "CANCELLED":
            counts["cancelled"] += 1
        elif status in ("RUNNING", "POSTPROCESSING"):
            counts["running"] += 1
        else:
            counts["pending"] += 1
    return counts


class DispatchState:
    """A dispatch's status, times and per-node status and times.

    Events are applied as they come; a fresh view (``GET dispatches/{id}``) is
    merged so that nothing moves backwards: a view fetched before some events
    arrived cannot undo them.
    """

    __slots__ = ("dispatch_id", "name", "status", "start_time", "end_time", "node_statuses",
                 "node_times", "kinds", "labels", "roles", "version")

    def __init__(self, view: Mapping[str, Any]) -> None:
        self.dispatch_id: str = view["id"]
        self.name: str = view.get("name", "")
        self.status: str = view["status"]
        self.start_time: float | None = view.get("start_time")
        self.end_time: float | None = view.get("end_time")
        #: node id -> status
        self.node_statuses: dict[int, str] = {}
        #: node id -> [start_time, end_time]
        self.node_times: dict[int, list[float | None]] = {}
        self.kinds: dict[int, str] = {}
        described = describe_nodes(view)
        #: node id -> what displays call it (see :func:`~.node_kinds.describe_nodes`)
        self.labels: dict[int, str] = {i: d.label for i, d in described.items()}
        #: node id -> electron, sublattice, parameter, collection, getitem, ... (displays' "kind")
        self.roles: dict[int, str] = {i: d.role for i, d in described.items()}
        #: bumped on every change, so a viewer can tell whether it is behind
        self.version = 0
        for node in view["nodes"]:
            node_id = node["node_id"]
            self.node_statuses[node_id] = node["status"]
            self.node_times[node_id] = [node.get("start_time"), node.get("end_time")]
            self.kinds[node_id] = node["kind"]

    @property
    def terminal(self) -> bool:
        """True once the dispatch is COMPLETED, FAILED or CANCELLED."""
        return self.status in _TERMINAL

    def counts(self) -> dict[str, int]:
        """Progress over the user's tasks (see :func:`progress_counts`)."""
        return progress_counts(self.node_statuses, self.kinds)

    def apply_event(self, event: Mapping[str, Any]) -> bool:
        """Apply one ``node`` or ``dispatch`` event of this dispatch; True if anything changed."""
        if event.get("dispatch_id") != self.dispatch_id:
            return False
        status, when = event.get("status"), event.get("time")
        if event.get("type") == "node":
            node_id = int(event["node_id"])
            if node_id not in self.node_statuses or self.node_statuses[node_id] == status:
                return False
            self.node_statuses[node_id] = status
            times = self.node_times[node_id]
            if status == "RUNNING":
                times[0], times[1] = when, None
            elif status in _TERMINAL:
                times[1] = when
        elif event.get("type") == "dispatch":
            if self.status == status or self.terminal:
                return False
            self.status = status
            if status == "RUNNING" and self.start_time is None:
                self.start_time = when
            if status in _TERMINAL:
                self.end_time = when
        else:
            return False
        self.version += 1
        return True

    def merge_view(self, view: Mapping[str, Any]) -> bool:
        """Take from a fresh view whatever is further along than what events told; True if changed."""
        changed = False
        if _rank(view["status"]) > _rank(self.status):
            self.status = view["status"]
            changed = True
        if view.get("start_time") and not self.start_time:
            self.start_time, changed = view["start_time"], True
        if view.get("end_time") and not self.end_time and self.terminal:
            self.end_time, changed = view["end_time"], True
        for node in view["nodes"]:
            node_id = node["node_id"]
            if node_id not in self.node_statuses:
                continue
            if _rank(node["status"]) > _rank(self.node_statuses[node_id]):
                self.node_statuses[node_id] = node["status"]
                self.node_times[node_id] = [node.get("start_time"), node.get("end_time")]
                changed = True
        if changed:
            self.version += 1
        return changed
