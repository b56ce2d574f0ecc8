"""The transport graph: a lattice's tasks as nodes, their data and ordering as edges.

Built by running the lattice body once with electron calls recorded
(:mod:`covalent_nb.workflow.builder`); read by :mod:`~covalent_nb.workflow.manifest`
and by graph rendering. Node kinds and edge parameters follow docs/internals.md.
"""

from __future__ import annotations

from typing import Any, Iterator

import networkx as nx

from covalent_nb.workflow.deps import TaskHooks

__all__ = ["NODE_KINDS", "TransportGraph", "executor_spec"]

NODE_KINDS = ("parameter", "electron", "collection", "generated", "sublattice")

_DEFAULT_OPTIONS: dict[str, Any] = {"retries": 0, "time_limit": None}


def executor_spec(executor: Any, owner: str) -> dict[str, Any] | None:
    """Normalize an ``executor=`` option to ``{"name": ..., "attrs": {...}}`` (or None).

    Accepts None, a short name such as ``"dask"`` or an executor object with a
    ``to_spec()`` method; ``owner`` names the electron or lattice in errors.
    """
    if executor is None:
        return None
    if isinstance(executor, str):
        if not executor:
            raise ValueError(f"{owner}: executor name must not be empty")
        return {"name": executor, "attrs": {}}
    to_spec = getattr(type(executor), "to_spec", None)
    if to_spec is None:
        raise TypeError(
            f"{owner}: executor must be None, a short name such as 'dask' or an executor "
            f"object with a to_spec() method, not {type(executor).__name__}"
        )
    spec = executor.to_spec()
    if not (isinstance(spec, dict) and isinstance(spec.get("name"), str)
            and isinstance(spec.get("attrs", {}), dict)):
        raise TypeError(f"{owner}: {type(executor).__name__}.to_spec() must return "
                        f"{{'name': str, 'attrs': dict}}, not {spec!r}")
    return {"name": spec["name"], "attrs": dict(spec.get("attrs", {}))}


class TransportGraph:
    """A lattice's transport graph, wrapping a :class:`networkx.MultiDiGraph`.

    Node attributes: ``id``, ``name``, ``kind`` (one of :data:`NODE_KINDS`),
    ``function`` (the callable, template or inner lattice; None for parameters),
    ``value`` (a parameter's literal), ``pickled`` (bytes of the value or
    template, snapshotted when the node was recorded, else None), ``executor``
    (spec or None), ``hooks`` (:class:`TaskHooks` of an electron or sublattice,
    None for nodes that run no hooks) and ``options``
    (``{"retries", "time_limit"}``). Each edge carries ``param``: ``{"kind":
    "arg", "index": i}``, ``{"kind": "kwarg", "name": n}`` or ``{"kind": "wait"}``.
    ``output`` is the id of the node whose value the lattice returns.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.output: int | None = None
        self._graph = nx.MultiDiGraph()
        self._next_id = 0
        self._next_edge_key = 0

    def add_node(self, *, name: str, kind: str, function: Any = None, value: Any = None,
                 pickled: bytes | None = None, executor: dict[str, Any] | None = None,
                 hooks: TaskHooks | None = None, options: dict[str, Any] | None = None) -> int:
        """Add a node and return its id (ids count up from 0 in recording order)."""
        node_id = self._next_id
        self._next_id += 1
        self._graph.add_node(
            node_id, id=node_id, name=name, kind=kind, function=function, value=value,
            pickled=pickled, executor=executor, hooks=hooks,
            options=options if options is not None else dict(_DEFAULT_OPTIONS),
        )
        return node_id

    def add_edge(self, source: int, target: int, param: dict[str, Any]) -> None:
        """Add an edge carrying ``param`` from ``source`` to ``target``."""
        # A unique key spares networkx searching for a free one between the same two nodes.
        self._graph.add_edge(source, target, key=self._next_edge_key, param=param)
        self._next_edge_key += 1

    def node(self, node_id: int) -> dict[str, Any]:
        """The attribute dict of one node."""
        return self._graph.nodes[node_id]

    def node_ids(self) -> list[int]:
        """All node ids, ascending."""
        return sorted(self._graph.nodes)

    def inputs(self, node_id: int) -> list[tuple[int, dict[str, Any]]]:
        """A node's incoming ``(source, param)`` pairs in canonical order.

        Positional args by index, then keyword args by name, then wait edges by source.
        """
        predecessors = self._graph._pred[node_id]  # {source: {edge key: data}}; the view is slow
        edges = [(source, data["param"]) for source, keyed in predecessors.items() for data in keyed.values()]
        if len(edges) > 1:
            edges.sort(key=lambda edge: _param_sort_key(edge[1], edge[0]))
        return edges

    def edges(self) -> Iterator[tuple[int, int, dict[str, Any]]]:
        """Every edge as ``(source, target, param)``, grouped by target in id order."""
        for target in self.node_ids():
            for source, param in self.inputs(target):
                yield source, target, param

    def successors(self, node_id: int) -> list[int]:
        """The nodes that take this node's output (or wait for it)."""
        return list(self._graph.successors(node_id))

    def has_path(self, source: int, target: int) -> bool:
        """Whether ``target`` depends, directly or not, on ``source``."""
        return nx.has_path(self._graph, source, target)

    def topological_order(self) -> list[int]:
        """Node ids with every node after all its parents."""
        if all(source < target for source, target in self._graph.edges()):
            return self.node_ids()  # the usual case: only wait() can add an edge to an older node
        return list(nx.lexicographical_topological_sort(self._graph))

    def remove_nodes(self, node_ids: set[int]) -> None:
        """Remove nodes (and their edges), then renumber the rest 0..n-1 in order."""
        if not node_ids:
            return
        self._graph.remove_nodes_from(node_ids)
        mapping = {old: new for new, old in enumerate(sorted(self._graph.nodes))}
        self._graph = nx.relabel_nodes(self._graph, mapping, copy=True)
        for new_id in self._graph.nodes:
            self._graph.nodes[new_id]["id"] = new_id
        if self.output is not None:
            self.output = mapping[self.output]
        self._next_id = len(mapping)

    def to_networkx(self) -> nx.MultiDiGraph:
        """A copy of the underlying networkx graph (node and edge attributes included)."""
        return self._graph.copy()

    def __len__(self) -> int:
        return self._graph.number_of_nodes()

    def __repr__(self) -> str:
        return (f"<TransportGraph {self.name!r}: {len(self)} nodes, "
                f"{self._graph.number_of_edges()} edges, output={self.output}>")


def _param_sort_key(param: dict[str, Any], source: int) -> tuple[int, Any, int]:
    kind = param["kind"]
    if kind == "arg":
        return (0, param["index"], source)
    if kind == "kwarg":
        return (1, param["name"], source)
    return (2, "", source)  # wait
