"""Checks a dispatch manifest before anything of it is stored: the one place its fields are checked.

The manifest is JSON from a client (format and limits in docs/internals.md).
Every field the server reads is checked for its type and range here, every
string and list for its length, so nothing past this module meets a value it
cannot handle. Every problem is reported as a :class:`ManifestError` that
names it, so the client gets an HTTP 400 and the store is left untouched.

The check has two halves: :func:`check_structure` reads only the manifest
(safe to run in a worker thread, as a big manifest's check does), and
:func:`check_payloads_present` asks the store for the payloads the manifest
names and did not send inline. :func:`check_manifest` runs both.

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

from covalent_nb._preview import MAX_PREVIEW_CHARS
from covalent_nb._serialize import blob_key

from .blobs import InvalidBlobKey, check_key

__all__ = ["ManifestError", "ExecutorSettingsError", "CheckedManifest", "check_manifest", "check_structure",
           "check_payloads_present", "topological_order", "NODE_KINDS", "EXECUTOR_NAME",
           "MAX_EXECUTOR_ATTRS_BYTES", "MAX_NODES", "MAX_EDGES", "MAX_NAME_CHARS", "MAX_TEXT_CHARS",
           "MAX_RETRIES", "MAX_TIME_LIMIT", "MAX_NODE_ID", "MAX_FINGERPRINT_CHARS", "MAX_DISPATCH_ID_CHARS",
           "MAX_PREVIEW_CHARS"]

NODE_KINDS = frozenset({"parameter", "electron", "collection", "generated", "sublattice"})
_PARAM_KINDS = frozenset({"arg", "kwarg", "wait"})
EXECUTOR_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.\-]{0,99}")
"""What an executor's short name may look like (an entry point name)."""
MAX_EXECUTOR_ATTRS_BYTES = 64 * 1024
"""An executor's settings, as JSON, are at most this long."""
MAX_NODES = 100_000
"""Tasks (nodes) one manifest may have."""
MAX_EDGES = 1_000_000
"""Edges one manifest may have."""
MAX_NAME_CHARS = 1000
"""Characters of a name: the dispatch's, a node's, its function's, a keyword argument's, a repr."""
MAX_TEXT_CHARS = 1_000_000
"""Characters of the lattice's source and doc."""
MAX_RETRIES = 100
"""A task's ``retries`` option is at most this."""
MAX_TIME_LIMIT = 366 * 24 * 3600
"""A task's ``time_limit`` (seconds) is at most this (a year); null means none."""
MAX_NODE_ID = 2 ** 63 - 1
"""Node ids are integers from 0 to this (SQLite's integers are 64-bit)."""
MAX_FINGERPRINT_CHARS = 128
"""Characters of a string fingerprint (the client sends 64 hex digits)."""
MAX_DISPATCH_ID_CHARS = 200
"""Characters of ``redispatch_of`` (a dispatch id)."""
_INT64 = range(-2 ** 63, 2 ** 63)


class ManifestError(ValueError):
    """The manifest is malformed; the message says where."""

    lead = "malformed dispatch"
    """How the API's 400 answer introduces the message."""


class ExecutorSettingsError(ManifestError):
    """A task names an executor this server offers, with settings it cannot take; the message says which."""

    lead = "dispatch refused"


@dataclasses.dataclass
class CheckedManifest:
    """A manifest that passed every check, with its inline payloads decoded.

    ``missing`` are the payload keys it names but did not send inline, each with
    where it is first named: :func:`check_payloads_present` looks them up.
    """

    manifest: dict[str, Any]
    inline_blobs: dict[str, bytes]
    blob_keys: set[str]
    order: list[int]
    missing: dict[str, str] = dataclasses.field(default_factory=dict)


def _require(cond: bool, message: str) -> None:
    if not cond:
        raise ManifestError(message)


def _show(value: Any, limit: int = 60) -> str:
    """``repr(value)``, shortened to about ``limit`` characters for a message."""
    text = repr(value) if not isinstance(value, (list, dict)) else f"a {type(value).__name__}"
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _is_int(value: Any) -> bool:
    """True for a JSON integer (not a boolean)."""
    return type(value) is int


def _is_text(value: Any, max_chars: int) -> bool:
    return isinstance(value, str) and len(value) <= max_chars


def _decode_blobs(raw: Any) -> dict[str, bytes]:
    _require(isinstance(raw, dict), "'blobs' must be an object of key -> base64")
    out = {}
    for key, b64 in raw.items():
        _require(isinstance(b64, str), f"inline blob {_show(key)} must be a base64 string")
        try:
            data = base64.b64decode(b64, validate=True)
        except (binascii.Error, ValueError):
            raise ManifestError(f"inline blob {_show(key)} is not valid base64") from None
        _require(blob_key(data) == key, f"inline blob {_show(key)} does not match its sha256")
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
    _check_task_options(spec.get("attrs", {}), f"{where}: executor {name!r} setting")


def _check_task_options(options: dict[str, Any], where: str) -> None:
    """``retries`` and ``time_limit``, wherever a task may take them from (its options, its executor)."""
    retries = options.get("retries")
    _require(retries is None or (_is_int(retries) and 0 <= retries <= MAX_RETRIES),
             f"{where} 'retries' must be an integer from 0 to {MAX_RETRIES}, not {_show(retries)}")
    limit = options.get("time_limit")
    _require(limit is None or (type(limit) in (int, float) and 0 <= limit <= MAX_TIME_LIMIT),
             f"{where} 'time_limit' must be null or a number of seconds from 0 to {MAX_TIME_LIMIT}, "
             f"not {_show(limit)}")


def topological_order(node_ids: list[int], edges: list[dict[str, Any]]) -> list[int]:
    """The node ids in an order where every edge's source comes before its target.

    Raises ManifestError when the graph has a cycle.
    """
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
    _require(isinstance(edges, list) and len(edges) <= MAX_EDGES,
             f"'edges' must be a list of at most {MAX_EDGES} edges")
    positions: dict[int, list[int]] = {}
    for i, edge in enumerate(edges):
        _require(isinstance(edge, dict), f"edge {i} must be an object")
        src, dst, param = edge.get("source"), edge.get("target"), edge.get("param")
        _require(_is_int(src) and _is_int(dst), f"edge {i}: 'source' and 'target' must be node ids (integers)")
        _require(src in ids and dst in ids, f"edge {i} names a node that does not exist")
        _require(isinstance(param, dict) and isinstance(param.get("kind"), str) and param["kind"] in _PARAM_KINDS,
                 f"edge {i}: param kind must be one of {sorted(_PARAM_KINDS)}")
        if param["kind"] == "arg":
            index = param.get("index")
            _require(_is_int(index) and 0 <= index < MAX_EDGES,
                     f"edge {i}: positional param needs an index >= 0")
            positions.setdefault(dst, []).append(index)
        elif param["kind"] == "kwarg":
            _require(_is_text(param.get("name"), MAX_NAME_CHARS),
                     f"edge {i}: keyword param needs a name (a string of at most {MAX_NAME_CHARS} characters)")
    for node, indexes in positions.items():
        _require(sorted(indexes) == list(range(len(indexes))),
                 f"node {node}: positional arguments must be numbered 0..n-1")


def _check_node(i: int, node: Any, ids: set[int], need_blob: Callable[[Any, str], None]) -> None:
    _require(isinstance(node, dict), f"node {i} must be an object")
    nid = node.get("id")
    _require(_is_int(nid) and 0 <= nid <= MAX_NODE_ID, f"node {i}: 'id' must be an integer from 0 to {MAX_NODE_ID}")
    _require(nid not in ids, f"node {i}: 'id' {nid} is not unique")
    ids.add(nid)
    _require(_is_text(node.get("name"), MAX_NAME_CHARS),
             f"node {nid}: 'name' must be a string of at most {MAX_NAME_CHARS} characters")
    kind = node.get("kind")
    _require(isinstance(kind, str) and kind in NODE_KINDS,
             f"node {nid}: kind must be one of {sorted(NODE_KINDS)}, not {_show(kind)}")
    if kind == "parameter":
        need_blob(node.get("value"), f"node {nid}")
    else:
        need_blob(node.get("function"), f"node {nid}")
    if node.get("hooks") is not None:
        need_blob(node["hooks"], f"node {nid} hooks")
    function_name = node.get("function_name")
    _require(function_name is None or _is_text(function_name, MAX_NAME_CHARS),
             f"node {nid}: 'function_name' must be null or a string of at most {MAX_NAME_CHARS} characters")
    preview = node.get("preview")
    _require(preview is None or _is_text(preview, MAX_PREVIEW_CHARS),
             f"node {nid}: 'preview' must be null or a string of at most {MAX_PREVIEW_CHARS} characters")
    _check_executor(node.get("executor"), f"node {nid} ({node['name']})")
    options = node.get("options")
    _require(options is None or isinstance(options, dict), f"node {nid}: 'options' must be an object")
    _check_task_options(options or {}, f"node {nid}: option")
    fingerprint = node.get("fingerprint")
    _require(fingerprint is None or _is_text(fingerprint, MAX_FINGERPRINT_CHARS)
             or (_is_int(fingerprint) and fingerprint in _INT64),
             f"node {nid}: 'fingerprint' must be null, a string of at most {MAX_FINGERPRINT_CHARS} characters "
             "or a 64-bit integer")


def _check_inputs(inputs: Any, need_blob: Callable[[Any, str], None]) -> None:
    _require(isinstance(inputs, dict), "'inputs' must be an object")
    in_args, in_kwargs = inputs.get("args"), inputs.get("kwargs")
    _require(isinstance(in_args, list) and isinstance(in_kwargs, dict),
             "'inputs' must have 'args' (a list) and 'kwargs' (an object) of payload keys")
    for i, key in enumerate(in_args):
        need_blob(key, f"input argument {i}")
    for name, key in in_kwargs.items():
        _require(len(name) <= MAX_NAME_CHARS, f"input argument {_show(name)}: a name of at most "
                                             f"{MAX_NAME_CHARS} characters")
        need_blob(key, f"input argument {name!r}")
    shown = inputs.get("repr")
    if shown is not None:
        _require(isinstance(shown, dict) and isinstance(shown.get("args", []), list)
                 and isinstance(shown.get("kwargs", {}), dict)
                 and all(_is_text(text, MAX_NAME_CHARS) for text in shown.get("args", []))
                 and all(len(name) <= MAX_NAME_CHARS and _is_text(text, MAX_NAME_CHARS)
                         for name, text in shown.get("kwargs", {}).items()),
                 f"'inputs' 'repr' must be {{'args': [str], 'kwargs': {{name: str}}}} of strings of at most "
                 f"{MAX_NAME_CHARS} characters")


def _check_top(manifest: Any) -> None:
    _require(isinstance(manifest, dict), "the manifest must be a JSON object")
    _require(_is_int(manifest.get("format")) and manifest["format"] == 1, "unsupported manifest format (expected 1)")
    _require(_is_text(manifest.get("name"), MAX_NAME_CHARS) and manifest["name"],
             f"'name' must be a non-empty string of at most {MAX_NAME_CHARS} characters")
    redispatch_of = manifest.get("redispatch_of")
    _require(redispatch_of is None or (_is_text(redispatch_of, MAX_DISPATCH_ID_CHARS) and redispatch_of),
             "'redispatch_of' must be null or a dispatch id")
    reuse = manifest.get("reuse_previous_results")
    _require(reuse is None or type(reuse) is bool, "'reuse_previous_results' must be true, false or null")


def _check_lattice(lattice: Any, need_blob: Callable[[Any, str], None]) -> None:
    _require(isinstance(lattice, dict), "'lattice' must be an object")
    need_blob(lattice.get("blob"), "lattice")
    for field in ("source", "doc"):
        value = lattice.get(field)
        _require(value is None or _is_text(value, MAX_TEXT_CHARS),
                 f"lattice: {field!r} must be null or a string of at most {MAX_TEXT_CHARS} characters")
    _check_executor(lattice.get("executor"), "lattice")
    _check_executor(lattice.get("workflow_executor"), "lattice workflow_executor")


def check_structure(manifest: Any) -> CheckedManifest:
    """Check everything ``manifest`` says, without the store; raise ManifestError naming the first problem.

    Payloads it names but did not send inline are listed in ``missing`` of the
    answer, for :func:`check_payloads_present`. Reads nothing but its argument:
    safe to call from a worker thread.
    """
    _check_top(manifest)
    inline = _decode_blobs(manifest.get("blobs", {}))
    keys: set[str] = set()
    missing: dict[str, str] = {}

    def need_blob(key: Any, where: str) -> None:
        try:
            check_key(key)
        except InvalidBlobKey as exc:
            raise ManifestError(f"{where}: {exc}") from None
        if key not in inline:
            missing.setdefault(key, where)
        keys.add(key)

    _check_lattice(manifest.get("lattice"), need_blob)
    _check_inputs(manifest.get("inputs"), need_blob)
    nodes = manifest.get("nodes")
    _require(isinstance(nodes, list) and 0 < len(nodes) <= MAX_NODES,
             f"'nodes' must be a non-empty list of at most {MAX_NODES} nodes")
    ids: set[int] = set()
    for i, node in enumerate(nodes):
        _check_node(i, node, ids, need_blob)
    edges = manifest.get("edges", [])
    _check_edges(edges, ids)
    output = manifest.get("output")
    _require(_is_int(output) and output in ids, "'output' must name a node")
    order = topological_order([n["id"] for n in nodes], edges)
    return CheckedManifest(manifest=manifest, inline_blobs=inline, blob_keys=keys, order=order, missing=missing)


def check_payloads_present(checked: CheckedManifest, has_blob: Callable[[str], bool],
                           keys: list[str] | None = None) -> None:
    """Raise ManifestError naming the first payload of ``checked.missing`` (or of ``keys``, some of them)
    that the store does not have."""
    for key in checked.missing if keys is None else keys:
        _require(has_blob(key), f"{checked.missing[key]}: payload {key!r} was neither sent inline nor uploaded")


def check_manifest(manifest: Any, has_blob: Callable[[str], bool]) -> CheckedManifest:
    """Check ``manifest`` completely; raise ManifestError naming the first problem."""
    checked = check_structure(manifest)
    check_payloads_present(checked, has_blob)
    return checked
