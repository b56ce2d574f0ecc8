"""The manifest: a dispatch as the client sends it (format 1 of docs/internals.md).

:func:`build_manifest` builds the lattice's graph with the given inputs and
describes it as JSON plus content-addressed blobs (pickled functions, values,
hooks, the lattice and its inputs). Identical blobs are stored once, and each
distinct function object is pickled once per manifest.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from covalent_nb import _serialize
from covalent_nb._preview import text_preview
from covalent_nb.errors import SerializationError
from covalent_nb.workflow.builder import short_repr
from covalent_nb.workflow.deps import TaskHooks
from covalent_nb.workflow.graph import TransportGraph
from covalent_nb.workflow.lattice import Lattice

__all__ = ["MANIFEST_FORMAT", "build_manifest", "node_fingerprint"]

MANIFEST_FORMAT = 1

_CANONICAL_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"))


class _BlobStore:
    """The blobs of one manifest, by key; pickles each function or hooks object once."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self._keys_by_object: dict[int, tuple[Any, str]] = {}

    def add(self, data: bytes) -> str:
        key = _serialize.blob_key(data)
        self.blobs.setdefault(key, data)
        return key

    def add_object(self, obj: Any, what: str) -> str:
        """Pickle ``obj`` (once per object) and store it; ``what`` names it in errors."""
        cached = self._keys_by_object.get(id(obj))
        if cached is not None:
            return cached[1]
        try:
            data = _serialize.dumps(obj)
        except Exception as error:
            raise SerializationError(f"{what} cannot be pickled ({type(error).__name__}: {error})") from error
        key = self.add(data)
        self._keys_by_object[id(obj)] = (obj, key)  # keeps obj alive so its id stays unique
        return key


def build_manifest(lattice: Lattice, args: tuple[Any, ...] | list[Any] = (),
                   kwargs: dict[str, Any] | None = None, *,
                   replace_electrons: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Build ``lattice``'s graph for these inputs; return ``(manifest, blobs by key)``.

    ``replace_electrons`` maps electron names to electrons (or functions)
    recorded in their place, as redispatch does.

    Raises TypeError for arguments that do not fit the lattice,
    :class:`~covalent_nb.errors.GraphBuildError` when its body fails and
    :class:`~covalent_nb.errors.SerializationError` when something cannot be pickled.
    """
    if not isinstance(lattice, Lattice):
        raise TypeError(f"build_manifest() takes a Lattice (made with @lattice), not {type(lattice).__name__}")
    args, kwargs = tuple(args), dict(kwargs or {})
    graph = lattice.build_graph_for(args, kwargs, replace_electrons=replace_electrons)
    store = _BlobStore()
    name = lattice.__name__
    nodes, edges = _describe_graph(graph, store)
    manifest = {
        "format": MANIFEST_FORMAT,
        "name": name,
        "lattice": {
            "blob": store.add_object(lattice, f"lattice {name!r}"),
            "source": lattice.source,
            "doc": lattice.__doc__ or "",
            "executor": lattice.executor_spec,
            "workflow_executor": lattice.workflow_executor_spec,
        },
        # One payload per argument: a large input used by a task is then the
        # same payload as its parameter node, sent and stored once.
        "inputs": {
            "args": [store.add_object(a, f"argument {i} of lattice {name!r}") for i, a in enumerate(args)],
            "kwargs": {key: store.add_object(value, f"argument {key!r} of lattice {name!r}")
                       for key, value in kwargs.items()},
            "repr": {"args": [short_repr(a) for a in args],
                     "kwargs": {key: short_repr(value) for key, value in kwargs.items()}},
        },
        "nodes": nodes,
        "edges": edges,
        "output": graph.output,
    }
    return manifest, store.blobs


def _describe_graph(graph: TransportGraph, store: _BlobStore) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    records: dict[int, dict[str, Any]] = {}
    edges: list[dict[str, Any]] = []
    inputs_of: dict[int, list[tuple[int, dict[str, Any]]]] = {}
    for node_id in graph.node_ids():
        records[node_id] = _node_record(graph.node(node_id), store)
        inputs_of[node_id] = graph.inputs(node_id)
        edges.extend({"source": source, "target": node_id, "param": param}
                     for source, param in inputs_of[node_id])
    for node_id in graph.topological_order():
        record = records[node_id]
        parents = [(param, records[source]["fingerprint"]) for source, param in inputs_of[node_id]]
        record["fingerprint"] = node_fingerprint(record, parents)
    return [records[node_id] for node_id in sorted(records)], edges


def _node_record(attrs: dict[str, Any], store: _BlobStore) -> dict[str, Any]:
    kind, name, function = attrs["kind"], attrs["name"], attrs["function"]
    function_key = value_key = function_name = preview = None
    if kind == "parameter":
        value_key = store.add(attrs["pickled"])
        preview = text_preview(attrs.get("value"))  # what displays show of the value: nobody unpickles it
    elif kind == "collection":
        function_key = store.add(attrs["pickled"])
        function_name = "CollectionTemplate.fill"
    else:
        function_key = store.add_object(function, f"the function of {kind} {name!r}")
        function_name = getattr(function, "__name__", name)
    hooks: TaskHooks | None = attrs["hooks"]
    return {
        "id": attrs["id"], "name": name, "kind": kind,
        "function": function_key, "function_name": function_name, "value": value_key,
        "executor": attrs["executor"],
        "hooks": store.add_object(hooks, f"the deps and hooks of {kind} {name!r}") if hooks else None,
        "options": attrs["options"],
        "fingerprint": None,
        "preview": preview,
    }


def node_fingerprint(record: dict[str, Any], parents: list[tuple[dict[str, Any], str]]) -> str:
    """A node's fingerprint: equal fingerprints mean same function, same inputs.

    The sha256 (hex) of these lines joined by newlines: kind, function key,
    value key, hooks key (absent keys as empty lines), the executor spec as
    canonical JSON, then one line per incoming edge in edge order,
    ``<param>=<parent fingerprint>`` where ``<param>`` is ``arg:<index>``,
    ``kwarg:<JSON-quoted name>`` or ``wait``.
    """
    lines = [record["kind"], record["function"] or "", record["value"] or "", record["hooks"] or "",
             _executor_text(record["executor"])]
    lines += [f"{_param_text(param)}={parent}" for param, parent in parents]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def _executor_text(spec: dict[str, Any] | None) -> str:
    return "null" if spec is None else _CANONICAL_JSON.encode(spec)


def _param_text(param: dict[str, Any]) -> str:
    kind = param["kind"]
    if kind == "arg":
        return f"arg:{param['index']}"
    if kind == "kwarg":
        return "kwarg:" + json.dumps(param["name"])
    return kind
