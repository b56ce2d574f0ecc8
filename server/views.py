"""JSON views of stored dispatches, as the HTTP API returns them.

:func:`dispatch_view_text` is the one a request uses: the view of a big
dispatch (a manifest of tens of MB, tens of thousands of tasks) is parsed and
encoded in a worker thread and assembled in slices, so answering it never
holds the event loop for long. The tasks of a dispatch that runs are read a
page at a time: the view may show them a few milliseconds apart.
"""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

from .gc_pauses import CollectorPauses
from .json_body import dumps_in_pieces, loads_stored
from .slices import SLICE, SliceClock, Steps, pause, run_sliced, run_through
from .store import ResultStore

__all__ = ["dispatch_view", "dispatch_view_text", "node_statuses", "INLINE_OUTPUT_LIMIT", "NODES_PER_READ"]

INLINE_OUTPUT_LIMIT = 1024 * 1024
NODES_PER_READ = 5 * SLICE
"""Tasks of a big dispatch read from the store in one go."""


def dispatch_view(store: ResultStore, record: dict[str, Any], *, inline_output: bool = False) -> dict[str, Any]:
    """A dispatch with its tasks, edges and (optionally) its small output inline."""
    manifest = store.get_manifest(record["id"])
    nodes = store.get_nodes(record["id"])
    return run_through(_assemble(store, record, manifest, nodes, inline_output))


async def dispatch_view_text(store: ResultStore, record: dict[str, Any], pauses: CollectorPauses, *,
                             inline_output: bool = False) -> str:
    """:func:`dispatch_view` as the JSON text of the answer, never holding the event loop for long.

    A dispatch of more than SLICE tasks: its manifest parsed and the answer
    encoded in a worker thread, its tasks read and joined in slices, the
    garbage collector waiting meanwhile (``pauses``, see server/gc_pauses.py).
    """
    if (record["node_count"] or 0) <= SLICE:
        return json.dumps(dispatch_view(store, record, inline_output=inline_output), separators=(",", ":"))
    with pauses.building():
        manifest = await asyncio.to_thread(loads_stored, store.manifest_text(record["id"]))
        nodes: list[dict[str, Any]] = []
        while True:
            page = store.get_nodes(record["id"], after=nodes[-1]["node_id"] if nodes else None,
                                   limit=NODES_PER_READ)
            nodes += page
            if len(page) < NODES_PER_READ:
                break
            await pause()
        view = await run_sliced(_assemble(store, record, manifest, nodes, inline_output))
        text = await asyncio.to_thread(dumps_in_pieces, view)
        del manifest, nodes, view  # freed now, while the collector still waits
    return text


async def node_statuses(store: ResultStore, dispatch_id: str) -> dict[int, str]:
    """Every task's status by node id, read a page at a time with pauses between pages."""
    statuses: dict[int, str] = {}
    after = None
    while True:
        page = store.node_statuses(dispatch_id, after=after, limit=NODES_PER_READ)
        statuses.update(page)
        if len(page) < NODES_PER_READ:
            return statuses
        after = page[-1][0]
        await pause()


def _assemble(store: ResultStore, record: dict[str, Any], manifest: dict[str, Any], nodes: list[dict[str, Any]],
              inline_output: bool) -> Steps[dict[str, Any]]:
    specs = {n["id"]: n for n in manifest["nodes"]}
    progress: dict[str, int] = {}
    clock = SliceClock()
    for node in nodes:
        spec = specs.get(node["node_id"], {})
        node["function_name"] = spec.get("function_name")
        node["value_key"] = spec.get("value")
        progress[node["status"]] = progress.get(node["status"], 0) + 1
        if clock.ends():
            yield
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
