"""Checks a dispatch manifest before anything of it is stored.

The manifest is JSON from a client (format in docs/internals.md). Every
problem is reported as a :class:`ManifestError` that names it, so the client
gets an HTTP 400 and the store is left untouched.

Executors are checked for their shape only (a sane short name, JSON
settings of bounded size): whether this server offers an executor of that
name is the dispatcher's question. A name it does not offer is no malformed
request: the dispatch is accepted and that task fails when it would start.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import re
from typing import Any, Callable

from covalent_nb._serialize import blob_key

__all__ = ["ManifestError", "ExecutorSettingsError", "CheckedManifest", "check_manifest", "topological_order",
           "NODE_KINDS", "EXECUTOR_NAME", "MAX_EXECUTOR_ATTRS_BYTES"]

NODE_KINDS = frozenset({"parameter", "electron", "collection", "generated", "sublattice"})
_PARAM_KINDS = frozenset({"arg", "kwarg", "wait"})
EXECUTOR_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.\-]{0,99}")
"""What an executor's short name may look like (an entry point name)."""
MAX_EXECUTOR_ATTRS_BYTES = 64 * 1024
"""An executor's settings, as JSON, are at most this long."""


class ManifestError(ValueError):
    """The manifest is malformed; the message says where."""

    lead = "malformed dispatch"
    """How the API's 400 answer introduces the message."""


class ExecutorSettingsError(ManifestError):
    """A task names an executor this server offers, with settings it cannot take; the message says which."""

    lead = "dispatch refused"


@dataclasses.dataclass
class CheckedManifest:
    """A manifest that passed every check, with its inline payloads decoded."""

    manifest: dict[str, Any]
    inline_blobs: dict[str, bytes]
    blob_keys: set[str]
    order: list[int]


def _require(cond: bool, message: str) -> None:
    if not cond:
        raise ManifestError(message)


def _decode_blobs(raw: Any) -> dict[str, bytes]:
    _require(isinstance(raw, dict), "'blobs' must be an object of key -> base64")
    out = {}
    for key, b64 in raw.items():
        _require(isinstance(b64, str), f"inline blob {key!r} must be a base64 string")
        try:
            data = base64.b64decode(b64, validate=True)
        except (binascii.Error, ValueError):
            raise ManifestError(f"inline blob {key!r} is not valid base64") from None
        _require(blob_key(data) == key, f"inline blob {key!r} does not match its sha256")
        out[key] = data
    return out


def _check_executor(spec: Any, where: str) -> None:
    """The shape of an executor spec; not whether the server offers it (see the module's docstring)."""
    if spec is None:
        return
    _require(isinstance(spec, dict) and isinstance(spec.get("name"), str)
             and isinstance(spec.get("attrs", {}), dict),
             f"{where}: executor must be {{'name': str, 'attrs': {{...}}}}")
    name = spec["name"]
    _require(EXECUTOR_NAME.fullmatch(name) is not None,
             f"{where}: executor name {name[:120]!r} is not a short name (a letter, then up to 99 "
             "letters, digits, '_', '.' or '-')")
    try:
        size = len(json.dumps(spec.get("attrs", {}), allow_nan=False))
    except ValueError:
        raise ManifestError(f"{where}: the settings of executor {name!r} must be JSON without NaN or "
                            "infinities") from None
    _require(size <= MAX_EXECUTOR_ATTRS_BYTES,
             f"{where}: the settings of executor {name!r} take {size} bytes as JSON; at most "
             f"{MAX_EXECUTOR_ATTRS_BYTES}")


def topological_order(node_ids: list[int], edges: list[dict[str, Any]]) -> list[int]:
    indegree = {n: 0 for n in node_ids}
    children: dict[int, list[int]] = {n: [] for n in node_ids}
    for edge in edges:
        indegree[edge["target"]] += 1
        children[edge["source"]].append(edge["target"])
    ready = [n for n in node_ids if indegree[n] == 0]
    order = []
    while ready:
        node = ready.pop()
        order.append(node)
        for child in children[node]:
            indegree[child] -= 1
            if indegree[child] == 0:
                ready.append(child)
    _require(len(order) == len(node_ids), "the graph has a cycle")
    return order


def _check_edges(edges: Any, ids: set[int]) -> None:
    _require(isinstance(edges, list), "'edges' must be a list")
    positions: dict[int, list[int]] = {}
    for i, edge in enumerate(edges):
        _require(isinstance(edge, dict), f"edge {i} must be an object")
        src, dst, param = edge.get("source"), edge.get("target"), edge.get("param")
        _require(src in ids and dst in ids, f"edge {i} names a node that does not exist")
        _require(isinstance(param, dict) and param.get("kind") in _PARAM_KINDS,
                 f"edge {i}: param kind must be one of {sorted(_PARAM_KINDS)}")
        if param["kind"] == "arg":
            _require(isinstance(param.get("index"), int) and param["index"] >= 0,
                     f"edge {i}: positional param needs an index >= 0")
            positions.setdefault(dst, []).append(param["index"])
        elif param["kind"] == "kwarg":
            _require(isinstance(param.get("name"), str), f"edge {i}: keyword param needs a name")
    for node, indexes in positions.items():
        _require(sorted(indexes) == list(range(len(indexes))),
                 f"node {node}: positional arguments must be numbered 0..n-1")


def check_manifest(manifest: Any, has_blob: Callable[[str], bool]) -> CheckedManifest:
    """Check ``manifest`` completely; raise ManifestError naming the first problem."""
    _require(isinstance(manifest, dict), "the manifest must be a JSON object")
    _require(manifest.get("format") == 1, "unsupported manifest format (expected 1)")
    _require(isinstance(manifest.get("name"), str) and manifest["name"], "'name' must be a non-empty string")
    inline = _decode_blobs(manifest.get("blobs", {}))
    keys: set[str] = set()

    def need_blob(key: Any, where: str) -> None:
        _require(isinstance(key, str) and (key in inline or has_blob(key)),
                 f"{where}: payload {key!r} was neither sent inline nor uploaded")
        keys.add(key)

    lattice = manifest.get("lattice")
    _require(isinstance(lattice, dict), "'lattice' must be an object")
    need_blob(lattice.get("blob"), "lattice")
    _check_executor(lattice.get("executor"), "lattice")
    inputs = manifest.get("inputs")
    _require(isinstance(inputs, dict), "'inputs' must be an object")
    in_args, in_kwargs = inputs.get("args"), inputs.get("kwargs")
    _require(isinstance(in_args, list) and isinstance(in_kwargs, dict),
             "'inputs' must have 'args' (a list) and 'kwargs' (an object) of payload keys")
    for i, key in enumerate(in_args):
        need_blob(key, f"input argument {i}")
    for name, key in in_kwargs.items():
        need_blob(key, f"input argument {name!r}")

    nodes = manifest.get("nodes")
    _require(isinstance(nodes, list) and nodes, "'nodes' must be a non-empty list")
    ids: set[int] = set()
    for i, node in enumerate(nodes):
        _require(isinstance(node, dict), f"node {i} must be an object")
        nid = node.get("id")
        _require(isinstance(nid, int) and nid not in ids, f"node {i}: 'id' must be a unique integer")
        ids.add(nid)
        _require(isinstance(node.get("name"), str), f"node {nid}: 'name' must be a string")
        kind = node.get("kind")
        _require(kind in NODE_KINDS, f"node {nid}: kind must be one of {sorted(NODE_KINDS)}")
        if kind == "parameter":
            need_blob(node.get("value"), f"node {nid}")
        else:
            need_blob(node.get("function"), f"node {nid}")
        if node.get("hooks") is not None:
            need_blob(node["hooks"], f"node {nid} hooks")
        _check_executor(node.get("executor"), f"node {nid} ({node['name']})")
        options = node.get("options") or {}
        _require(isinstance(options, dict), f"node {nid}: 'options' must be an object")
    edges = manifest.get("edges", [])
    _check_edges(edges, ids)
    _require(manifest.get("output") in ids, "'output' must name a node")
    order = topological_order([n["id"] for n in nodes], edges)
    return CheckedManifest(manifest=manifest, inline_blobs=inline, blob_keys=keys, order=order)
