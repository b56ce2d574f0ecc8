"""``GET <prefix>api/v1/dispatches/{id}/graph.svg``: the transport graph as the widget draws it.

The picture comes from the notebook widget's own code
(``covalent_nb.notebook.graph_view``: plan, collapse repeated electrons in
large graphs, label by ``node_kinds``, Graphviz's ``dot``), made from the
stored manifest alone: nothing is unpickled. Every box is a ``<g>`` with id
``cnb-node-<key>`` and, added here, ``data-kind`` (the node kind) and
``data-members`` (the node ids it stands for, one box per node unless
collapsed), so a page colours boxes live from the events by node id. The
graph of a dispatch never changes: pictures are kept for the last few
dispatches asked for, and answered with a long private cache lifetime.
"""

from __future__ import annotations

import asyncio
import collections
import re
from typing import Any

from covalent_nb.notebook.graph_view import GraphPicture, draw_graph

from .handlers import ApiHandler
from .json_body import loads_stored

__all__ = ["GraphHandler", "DOM_PREFIX", "graph_svg"]

DOM_PREFIX = "cnb"
"""Box ids are ``cnb-node-<key>``, edge ids ``cnb-edge-<index>``."""
_KEPT = 16
_BOX = re.compile(r'<g id="cnb-node-(\d+)" class="node">')


class GraphUnavailable(Exception):
    """The graph cannot be drawn (too many boxes, no Graphviz); the message says why."""


class GraphHandler(ApiHandler):
    """``GET dispatches/{id}/graph.svg``: the picture (``image/svg+xml``); 422 when it cannot be drawn."""

    _pictures: "collections.OrderedDict[str, str]" = collections.OrderedDict()

    async def get(self, dispatch_id: str) -> None:
        self.owned_record(dispatch_id)
        svg = self._pictures.get(dispatch_id)
        if svg is None:
            text = self.service.store.manifest_text(dispatch_id)
            try:
                svg = await asyncio.to_thread(graph_svg, text)
            except GraphUnavailable as exc:
                self.fail(422, str(exc))
            self._pictures[dispatch_id] = svg
            while len(self._pictures) > _KEPT:
                self._pictures.popitem(last=False)
        self._pictures.move_to_end(dispatch_id)
        self.set_header("Content-Type", "image/svg+xml; charset=utf-8")
        self.set_header("Cache-Control", "private, max-age=86400")
        self.write(svg)
        await self.flush()  # the headers go now: a host's finish (Jupyter's APIHandler says JSON) cannot change them
        self.finish()


def graph_svg(manifest_text: str) -> str:
    """The SVG of a stored manifest's graph, boxes marked with their kind and members (see the module)."""
    manifest = loads_stored(manifest_text)
    view: dict[str, Any] = {
        "name": manifest.get("name"), "lattice": manifest.get("lattice") or {}, "output_node": manifest.get("output"),
        "nodes": [{"node_id": n["id"], "name": n["name"], "kind": n["kind"], "function_name": n.get("function_name")}
                  for n in manifest["nodes"]],
        "edges": manifest.get("edges", []),
    }
    picture: GraphPicture = draw_graph(view, DOM_PREFIX)
    if picture.svg is None:
        raise GraphUnavailable(picture.message or "the graph could not be drawn")
    boxes = picture.plan.nodes

    def mark(match: re.Match[str]) -> str:
        box = boxes.get(int(match.group(1)))
        if box is None:
            return match.group(0)
        members = " ".join(map(str, box.members))
        return f'<g id="cnb-node-{box.key}" class="node" data-kind="{box.kind}" data-members="{members}">'
    return _BOX.sub(mark, picture.svg)
