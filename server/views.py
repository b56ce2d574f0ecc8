"""JSON views of stored dispatches, as the HTTP API returns them."""

from __future__ import annotations

import base64
from typing import Any

from .store import ResultStore

__all__ = ["dispatch_view", "INLINE_OUTPUT_LIMIT"]

INLINE_OUTPUT_LIMIT = 1024 * 1024


def dispatch_view(store: ResultStore, record: dict[str, Any], *, inline_output: bool = False) -> dict[str, Any]:
    """A dispatch with its tasks, edges and (optionally) its small output inline."""
    manifest = store.get_manifest(record["id"])
    nodes = store.get_nodes(record["id"])
    specs = {n["id"]: n for n in manifest["nodes"]}
    progress: dict[str, int] = {}
    for node in nodes:
        spec = specs.get(node["node_id"], {})
        node["function_name"] = spec.get("function_name")
        node["value_key"] = spec.get("value")
        progress[node["status"]] = progress.get(node["status"], 0) + 1
    view = {
        "id": record["id"], "name": record["name"], "status": record["status"],
        "created": record["created"], "start_time": record["start_time"],
        "end_time": record["end_time"], "error": record["error"],
        "output_node": record["output_node"], "output_key": record["output_key"],
        "parent_id": record["parent_id"], "parent_node": record["parent_node"],
        "redispatch_of": record["redispatch_of"],
        "lattice": manifest["lattice"], "inputs": manifest["inputs"],
        "nodes": nodes, "edges": manifest.get("edges", []), "progress": progress,
        "blobs": {},
    }
    key = record["output_key"]
    if inline_output and key:
        size = store.blobs.size(key)
        if size is not None and size <= INLINE_OUTPUT_LIMIT:
            view["blobs"][key] = base64.b64encode(store.blobs.get(key)).decode()
    return view
