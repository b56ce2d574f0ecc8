"""``GET <prefix>api/v1/dispatches/{id}/nodes/{node_id}``: everything about one task.

What a display shows when a task is picked: its record (status, times,
stdout, stderr, error, traceback), the text ``preview`` of its value, the
statuses it went through with their times, its executor with the settings
(secrets masked) and where they come from, and its inputs with their
previews. Previews are text made where the values were in memory (see
``covalent_nb._preview``): nothing is unpickled here.
"""

from __future__ import annotations

import asyncio
from typing import Any

from .executors import DEFAULT_EXECUTOR, mask_secrets
from .handlers import ApiHandler
from .json_body import loads_stored
from .slices import SLICE

__all__ = ["NodeHandler", "node_details"]


class NodeHandler(ApiHandler):
    """``GET dispatches/{id}/nodes/{node_id}``: one task of a dispatch (see :func:`node_details`)."""

    async def get(self, dispatch_id: str, node_id: str) -> None:
        record = self.owned_record(dispatch_id)
        store = self.service.store
        node = store.get_node(dispatch_id, int(node_id)) if len(node_id) <= 18 else None
        if node is None:
            self.fail(404, f"dispatch {dispatch_id} has no node {node_id}")
        text = store.manifest_text(dispatch_id)
        manifest = (loads_stored(text) if (record["node_count"] or 0) <= SLICE
                    else await asyncio.to_thread(loads_stored, text))  # a big one off the event loop
        self.write_json(node_details(store, dispatch_id, node, manifest))


def node_details(store: Any, dispatch_id: str, node: dict[str, Any], manifest: dict[str, Any]) -> dict[str, Any]:
    """The answer for one task: ``{"dispatch_id", "node", "history", "inputs"}``.

    The node's ``executor`` is ``{"name", "attrs", "source"}`` where ``source`` says whose
    setting it is: ``task`` (the electron's), ``lattice`` (the workflow's) or
    ``server`` (the server's default Dask cluster).
    """
    node_id = node["node_id"]
    spec, source = node.get("executor"), "task"
    if not spec:
        spec, source = manifest.get("lattice", {}).get("executor"), "lattice"
    if not spec:
        spec, source = {"name": DEFAULT_EXECUTOR, "attrs": {}}, "server"
    executor = {"name": spec.get("name"), "attrs": mask_secrets(dict(spec.get("attrs") or {})), "source": source}
    node = dict(node, executor=executor)
    incoming = [e for e in manifest.get("edges", ()) if e.get("target") == node_id]
    parents = store.node_summaries(dispatch_id, {e["source"] for e in incoming})
    inputs = [dict(parents.get(e["source"], {}), node_id=e["source"], param=e.get("param")) for e in incoming]
    history = [{"status": status, "at": at} for _, status, at in store.node_history(dispatch_id, node_id)]
    return {"dispatch_id": dispatch_id, "node": node, "history": history, "inputs": inputs}
