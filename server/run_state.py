"""In-memory state of the dispatches that are running, with documented fields."""

from __future__ import annotations

from typing import Any

from covalent_nb._status import TERMINAL, Status

from .slices import SliceClock, Steps, run_through

__all__ = ["NodeRun", "DispatchRun"]


class NodeRun:
    """One task of a running dispatch.

    Fields:
        id, name, kind: from the manifest.
        spec: the node's manifest entry.
        executor: the resolved executor spec ``{"name", "attrs"}``.
        status: the task's current status (as stored).
        output_key: content key of its output once COMPLETED.
        inputs: incoming edges ``(parent_id, param)`` in manifest order.
        children: ids of nodes with an edge from this one.
        waiting: parents not yet COMPLETED.
        submitted: handed to an executor (maybe before its parents finished,
            when Dask chains it on their futures).
        dead: will never run (an ancestor failed or was cancelled).
        handle: what cancels it: a Dask future, or an asyncio task.
        sub_dispatch_id: the child dispatch of a sublattice node.
        attempts: how many times it has been started (retries).
        failures: the errors of earlier attempts that were retried.
        submissions: how many times it was handed to an executor (names its Dask keys).
        interruptions: notes on runs cut off by a lost Dask worker, which Dask ran again.
    """

    __slots__ = ("id", "name", "kind", "spec", "executor", "status", "output_key", "inputs",
                 "children", "waiting", "submitted", "dead", "handle", "sub_dispatch_id",
                 "attempts", "failures", "start_time", "submissions", "interruptions")

    def __init__(self, spec: dict[str, Any], executor: dict[str, Any]) -> None:
        self.id: int = spec["id"]
        self.name: str = spec["name"]
        self.kind: str = spec["kind"]
        self.spec = spec
        self.executor = executor
        self.status = Status.NEW_OBJECT
        self.output_key: str | None = None
        self.inputs: list[tuple[int, dict[str, Any]]] = []
        self.children: list[int] = []
        self.waiting = 0
        self.submitted = False
        self.dead = False
        self.handle: Any = None
        self.sub_dispatch_id: str | None = None
        self.attempts = 0
        self.failures: list[str] = []
        self.start_time: float | None = None
        self.submissions = 0
        self.interruptions: list[str] = []

    @property
    def finished(self) -> bool:
        """True once the task is terminal or will never run."""
        return self.dead or self.status in TERMINAL

    @property
    def is_dask(self) -> bool:
        """True when the task runs on a Dask cluster."""
        return self.executor["name"] == "dask"

    @property
    def retries(self) -> int:
        """How many times a failed attempt is started again (electron option, else executor setting)."""
        value = (self.spec.get("options") or {}).get("retries") or self.executor["attrs"].get("retries")
        return int(value or 0)

    @property
    def time_limit(self) -> float | None:
        """Seconds an attempt may run before it is stopped (electron option, else executor setting)."""
        value = (self.spec.get("options") or {}).get("time_limit") or self.executor["attrs"].get("time_limit")
        return float(value) if value else None

    @property
    def chainable(self) -> bool:
        """True when children on the same Dask cluster may be chained on this task's future.

        Not for sublattices (their output comes later, from a child dispatch)
        nor for tasks that may be retried (a retry is a new future).
        """
        return (self.is_dask and self.kind != "sublattice" and self.retries == 0
                and self.submitted and self.handle is not None)


class DispatchRun:
    """A dispatch being executed.

    Fields:
        id, owner, name: identity.
        nodes: every task by id; order: a topological order of their ids.
        output: the node whose output is the workflow's result.
        unfinished: how many tasks are not yet finished (see NodeRun.finished).
        failed: ids of tasks that FAILED; cancelled: a cancel was asked.
        parent: (parent dispatch id, node id) for a sublattice's dispatch.
        status: the dispatch's status.
    """

    __slots__ = ("id", "owner", "name", "nodes", "order", "output", "unfinished", "failed",
                 "cancelled", "parent", "status", "lattice_executor")

    def __init__(self, dispatch_id: str, owner: str, manifest: dict[str, Any], order: list[int],
                 resolve_executor: Any) -> None:
        run_through(self._fill(dispatch_id, owner, manifest, order, resolve_executor))

    @classmethod
    def in_slices(cls, dispatch_id: str, owner: str, manifest: dict[str, Any], order: list[int],
                  resolve_executor: Any) -> Steps["DispatchRun"]:
        """The run, built a slice of tasks at a time (see server/slices.py)."""
        run = cls.__new__(cls)
        yield from run._fill(dispatch_id, owner, manifest, order, resolve_executor)
        return run

    def _fill(self, dispatch_id: str, owner: str, manifest: dict[str, Any], order: list[int],
              resolve_executor: Any) -> Steps[None]:
        self.id = dispatch_id
        self.owner = owner
        self.name: str = manifest["name"]
        self.lattice_executor = manifest["lattice"].get("executor")
        self.nodes: dict[int, NodeRun] = {}
        clock = SliceClock()
        for spec in manifest["nodes"]:
            executor = resolve_executor(spec.get("executor") or self.lattice_executor)
            self.nodes[spec["id"]] = NodeRun(spec, executor)
            if clock.ends():
                yield
        for edge in manifest.get("edges", []):
            child = self.nodes[edge["target"]]
            child.inputs.append((edge["source"], edge["param"]))
            self.nodes[edge["source"]].children.append(edge["target"])
            if clock.ends():
                yield
        self.order = order
        self.output: int = manifest["output"]
        self.unfinished = len(self.nodes)
        self.failed: list[int] = []
        self.cancelled = False
        self.parent: tuple[str, int] | None = None
        self.status = Status.NEW_OBJECT

    def may_feed_chain(self, node: NodeRun) -> bool:
        """True when a child may be chained on the task's Dask future (same cluster, see chainable)."""
        if not node.is_dask or node.kind == "sublattice" or node.retries:
            return False
        address = node.executor["attrs"].get("scheduler_address")
        return any(self.nodes[cid].is_dask and self.nodes[cid].executor["attrs"].get("scheduler_address") == address
                   for cid in node.children)

    def descendants(self, node_id: int) -> list[int]:
        """Every node reachable from ``node_id`` (not itself)."""
        seen: set[int] = set()
        stack = list(self.nodes[node_id].children)
        while stack:
            nid = stack.pop()
            if nid not in seen:
                seen.add(nid)
                stack.extend(self.nodes[nid].children)
        return list(seen)
