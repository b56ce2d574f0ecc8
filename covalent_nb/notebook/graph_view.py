"""The transport graph as a picture: dispatch view -> DOT -> SVG (Graphviz's ``dot``).

Every drawn node is a ``<g>`` whose ``id`` is ``<dom_prefix>-node-<node id>``,
so a small ``<style>`` block (:func:`status_css`) recolours nodes by status
without touching the SVG. ``dom_prefix`` is unique per widget, so two
pictures on one page never share an id.

Large graphs (more than :data:`COLLAPSE_ABOVE` non-parameter nodes) are
collapsed: nodes with the same kind and name whose parents and children fall
into the same groups are drawn as one node labelled ``name ×k``, so a
1000-task fan-out is three or four boxes. A group's colour follows
:func:`group_status`.

Boxes are labelled by :mod:`~covalent_nb.notebook.node_kinds`: the user's
tasks by name, in rounded boxes; helper nodes (``list``, ``[0]``, ``.x``,
``+``, a cell's result) small and round; parameters as small grey boxes.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Iterable, Mapping

from .node_kinds import HELPER_ROLES, describe_nodes

__all__ = ["COLLAPSE_ABOVE", "GRAPHVIZ_MISSING", "MAX_DRAWN_NODES", "STATUS_COLOURS", "DrawnNode",
           "GraphPicture", "GraphPlan", "draw_graph", "graph_dot", "group_status", "plan_graph", "render_svg",
           "status_css"]

COLLAPSE_ABOVE = 60
"""Collapse repeated electrons when a graph has more non-parameter nodes than this."""

GRAPHVIZ_MISSING = ("Install Graphviz's dot to draw the graph: apt-get install graphviz (Debian/Ubuntu), "
                    "brew install graphviz, or conda install graphviz")
"""What the picture says instead when the ``dot`` program (or the graphviz package) is missing."""

STATUS_COLOURS: dict[str, str] = {
    "COMPLETED": "#7bc67e", "FAILED": "#e57373", "RUNNING": "#64b5f6", "CANCELLED": "#a8a8a8",
    "NEW_OBJECT": "#e4e4e4", "STARTING": "#e4e4e4", "PENDING_REUSE": "#c8e6c9",
    "POSTPROCESSING": "#64b5f6", "PENDING_POSTPROCESSING": "#e4e4e4", "POSTPROCESSING_FAILED": "#e57373",
}
"""Node fill colour by status."""

_PARAMETER_FILL = "#f4f4f4"
_GROUP_LABELS = {"parameter": "values", "getitem": "[…]", "attribute": ".…"}
"""What a collapsed group says when its members' labels differ (per role)."""
_FONT = "Helvetica,Arial,sans-serif"
_MAX_REFINEMENTS = 50

MAX_DRAWN_NODES = 2000
"""Above this many boxes (after collapsing) the graph is not drawn; the node table still is."""


@dataclasses.dataclass
class DrawnNode:
    """One box in the picture: a single node, or a collapsed group of alike nodes."""

    key: int
    """The smallest node id among ``members``; names the ``<g>`` (``<prefix>-node-<key>``)."""
    name: str
    kind: str
    members: list[int]
    label: str = ""
    """What the box says (without the ``×k`` of a group); see :mod:`~.node_kinds`."""
    role: str = ""
    """electron, sublattice, parameter, or the helper's role (collection, getitem, ...)."""


@dataclasses.dataclass
class GraphPlan:
    """What will be drawn: boxes, the edges between them, and which box holds each node."""

    nodes: dict[int, DrawnNode]
    edges: list[tuple[int, int, dict[str, Any] | None]]
    box_of: dict[int, int]
    collapsed: bool

    def box_statuses(self, statuses: Mapping[int, str]) -> dict[int, str]:
        """The status each box shows, given every node's status (see :func:`group_status`)."""
        return {key: group_status(statuses.get(m, "NEW_OBJECT") for m in box.members)
                for key, box in self.nodes.items() if box.kind != "parameter"}


@dataclasses.dataclass
class GraphPicture:
    """A drawn graph: the SVG (None when ``dot`` is missing, then ``message`` says why)."""

    plan: GraphPlan
    dom_prefix: str
    svg: str | None
    message: str | None = None
    width_px: float = 0.0
    """The picture's natural width in CSS pixels."""


def group_status(statuses: Iterable[str]) -> str:
    """The status a collapsed group shows: the worst or most in progress of its members.

    Any FAILED -> FAILED; else any RUNNING -> RUNNING; else all alike -> that
    status; else any CANCELLED -> CANCELLED; else (some finished, some not yet
    started) -> RUNNING, since the group is under way.
    """
    seen = set(statuses)
    for status in ("FAILED", "POSTPROCESSING_FAILED", "RUNNING", "POSTPROCESSING"):
        if status in seen:
            return "FAILED" if status.endswith("FAILED") else "RUNNING"
    if len(seen) == 1:
        return seen.pop()
    if not seen:
        return "NEW_OBJECT"
    return "CANCELLED" if "CANCELLED" in seen else "RUNNING"


# ---- planning: which boxes and edges ------------------------------------------------------


def plan_graph(view: Mapping[str, Any], collapse: bool | None = None) -> GraphPlan:
    """Boxes and edges for a dispatch view (``GET dispatches/{id}``).

    ``collapse=None`` collapses when there are more than :data:`COLLAPSE_ABOVE`
    non-parameter nodes.
    """
    nodes = {n["node_id"]: n for n in view["nodes"]}
    edges = [(e["source"], e["target"], e.get("param")) for e in view["edges"]
             if e["source"] in nodes and e["target"] in nodes]
    if collapse is None:
        collapse = sum(n["kind"] != "parameter" for n in nodes.values()) > COLLAPSE_ABOVE
    box_of = _collapse_partition(nodes, edges) if collapse else {i: i for i in nodes}
    described = describe_nodes(view)
    boxes: dict[int, DrawnNode] = {}
    for node_id in sorted(nodes):
        key = box_of[node_id]
        if key not in boxes:
            look = described[node_id]
            boxes[key] = DrawnNode(key, nodes[node_id]["name"], nodes[node_id]["kind"], [], look.label, look.role)
        elif boxes[key].label != described[node_id].label:
            boxes[key].label = _GROUP_LABELS.get(boxes[key].role, boxes[key].label)
        boxes[key].members.append(node_id)
    if collapse:
        seen: set[tuple[int, int]] = set()
        drawn = []
        for source, target, _param in edges:
            pair = (box_of[source], box_of[target])
            if pair not in seen:
                seen.add(pair)
                drawn.append((pair[0], pair[1], None))
        edges = drawn
    return GraphPlan(boxes, edges, box_of, collapse)


def _collapse_partition(nodes: Mapping[int, Mapping[str, Any]],
                        edges: list[tuple[int, int, Any]]) -> dict[int, int]:
    """Group alike nodes: same kind and name, parents in the same groups, children in the same groups.

    Partition refinement until stable, or for at most :data:`_MAX_REFINEMENTS`
    rounds (a long chain of one electron would split one node per round; what
    is left of it stays one box with an edge to itself). Parameters are alike
    whatever their value. Returns node id -> the smallest id of its group.
    """
    parents: dict[int, list[int]] = {i: [] for i in nodes}
    children: dict[int, list[int]] = {i: [] for i in nodes}
    for source, target, _param in edges:
        parents[target].append(source)
        children[source].append(target)
    label = {i: (n["kind"], "" if n["kind"] == "parameter" else n["name"]) for i, n in nodes.items()}
    group = _number(label)
    for _round in range(_MAX_REFINEMENTS):
        signature = {i: (group[i], frozenset(group[p] for p in parents[i]),
                         frozenset(group[c] for c in children[i])) for i in nodes}
        refined = _number(signature)
        if len(set(refined.values())) == len(set(group.values())):
            break
        group = refined
    smallest: dict[int, int] = {}
    for node_id in sorted(nodes):
        smallest.setdefault(group[node_id], node_id)
    return {i: smallest[group[i]] for i in nodes}


def _number(signature: Mapping[int, Any]) -> dict[int, int]:
    numbers: dict[Any, int] = {}
    return {i: numbers.setdefault(sig, len(numbers)) for i, sig in signature.items()}


# ---- DOT -----------------------------------------------------------------------------------


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _label(box: DrawnNode) -> str:
    name = box.label or box.name
    return f"{name} ×{len(box.members)}" if len(box.members) > 1 else name


def _node_attrs(box: DrawnNode, dom_prefix: str, fill: str | None) -> str:
    attrs = {"id": f"{dom_prefix}-node-{box.key}", "label": _label(box)}
    if box.kind == "parameter":
        attrs.update(shape="box", style="filled", fillcolor=_PARAMETER_FILL, color="#bbbbbb",
                     fontcolor="#666666", fontsize="9", height="0.2", margin="0.04,0.02")
    elif box.role in HELPER_ROLES:
        # helpers are not the user's tasks: small, round, grey-edged, still coloured by status
        attrs.update(shape="ellipse", style="filled", color="#999999", fontcolor="#444444", fontsize="8",
                     width="0.3", height="0.2", margin="0.02,0.0")
    else:
        attrs.update(shape="box", style="rounded,filled", fontsize="12")
        if box.kind == "sublattice":
            attrs["peripheries"] = "2"
    if box.kind != "parameter":
        attrs["fillcolor"] = fill or STATUS_COLOURS["NEW_OBJECT"]
    ids = ", ".join(map(str, box.members[:5])) + (", …" if len(box.members) > 5 else "")
    nodes = "nodes" if len(box.members) > 1 else "node"
    attrs["tooltip"] = f"{box.label or box.name} ({box.role or box.kind}; {nodes} {ids})"
    return ", ".join(f"{k}={_quote(v)}" for k, v in attrs.items())


def _edge_attrs(index: int, dom_prefix: str, param: dict[str, Any] | None) -> str:
    attrs = {"id": f"{dom_prefix}-edge-{index}"}
    if param and param.get("kind") == "kwarg":
        attrs["label"] = str(param.get("name"))
    elif param and param.get("kind") == "wait":
        attrs["style"] = "dashed"
    return ", ".join(f"{k}={_quote(v)}" for k, v in attrs.items())


def graph_dot(plan: GraphPlan, dom_prefix: str, statuses: Mapping[int, str] | None = None,
              name: str = "workflow") -> str:
    """The DOT source of a plan; ``statuses`` (node id -> status) bakes colours into the picture."""
    shown = plan.box_statuses(statuses or {})
    lines = [f"digraph {_quote(name)} {{",
             f'  graph [id={_quote(dom_prefix + "-graph")}, bgcolor="transparent", rankdir="TB", '
             f'nodesep="0.25", ranksep="0.35"];',
             f'  node [fontname={_quote(_FONT)}, color="#555555"];',
             f'  edge [fontname={_quote(_FONT)}, fontsize="8", color="#777777", arrowsize="0.6"];']
    for key, box in plan.nodes.items():
        fill = STATUS_COLOURS.get(shown[key]) if key in shown and statuses else None
        lines.append(f"  n{key} [{_node_attrs(box, dom_prefix, fill)}];")
    for index, (source, target, param) in enumerate(plan.edges):
        lines.append(f"  n{source} -> n{target} [{_edge_attrs(index, dom_prefix, param)}];")
    lines.append("}")
    return "\n".join(lines)


# ---- SVG -----------------------------------------------------------------------------------

_PROLOG = re.compile(r"\A.*?(?=<svg\b)", re.S)
_COMMENT = re.compile(r"<!--.*?-->\s*", re.S)
_WIDTH = re.compile(r'<svg width="([\d.]+)pt" height="[\d.]+pt"')


def render_svg(dot_source: str) -> str:
    """Run ``dot -Tsvg``; the SVG without XML prolog, doctype or comments.

    Raises ``graphviz.ExecutableNotFound`` when ``dot`` is not installed and
    ImportError when the graphviz package is not.
    """
    import graphviz

    svg = graphviz.Source(dot_source).pipe(format="svg").decode("utf-8")
    svg = _COMMENT.sub("", _PROLOG.sub("", svg, count=1))
    return svg.replace("&#45;", "-").strip()


def draw_graph(view: Mapping[str, Any], dom_prefix: str, statuses: Mapping[int, str] | None = None,
               collapse: bool | None = None) -> GraphPicture:
    """Plan and draw a dispatch's graph; without ``dot`` the picture carries :data:`GRAPHVIZ_MISSING`."""
    plan = plan_graph(view, collapse)
    try:
        import graphviz
    except ImportError:
        return GraphPicture(plan, dom_prefix, None, GRAPHVIZ_MISSING + ", and pip install graphviz")
    if len(plan.nodes) > MAX_DRAWN_NODES:
        return GraphPicture(plan, dom_prefix, None,
                            f"The graph has {len(plan.nodes)} boxes even collapsed, too many to draw; "
                            "the table lists its tasks")
    try:
        svg = render_svg(graph_dot(plan, dom_prefix, statuses, view.get("name") or "workflow"))
    except graphviz.ExecutableNotFound:
        return GraphPicture(plan, dom_prefix, None, GRAPHVIZ_MISSING)
    except (graphviz.CalledProcessError, OSError, UnicodeDecodeError) as exc:
        return GraphPicture(plan, dom_prefix, None, f"Graphviz could not draw the graph: {exc}")
    match = _WIDTH.search(svg)
    width_px = float(match.group(1)) * 4 / 3 if match else 0.0
    return GraphPicture(plan, dom_prefix, svg, None, width_px)


# ---- colours by CSS ------------------------------------------------------------------------


def status_css(picture_or_plan: GraphPicture | GraphPlan, dom_prefix: str,
               statuses: Mapping[int, str]) -> str:
    """A ``<style>`` block colouring every box of the picture by its status (one rule per status)."""
    plan = picture_or_plan.plan if isinstance(picture_or_plan, GraphPicture) else picture_or_plan
    by_status: dict[str, list[int]] = {}
    for key, status in plan.box_statuses(statuses).items():
        by_status.setdefault(status, []).append(key)
    rules = []
    for status in sorted(by_status):
        selector = ",".join(f"#{dom_prefix}-node-{key} :is(polygon,ellipse,path)" for key in sorted(by_status[status]))
        colour = STATUS_COLOURS.get(status, STATUS_COLOURS["NEW_OBJECT"])
        extra = ""
        if status == "RUNNING":
            extra = ";stroke:#1565c0;stroke-width:2px;stroke-dasharray:5 3;animation:cnb-run 1s linear infinite"
        elif status == "FAILED":
            extra = ";stroke:#b71c1c;stroke-width:1.5px"
        rules.append(f"{selector}{{fill:{colour}{extra}}}")
    if "RUNNING" in by_status:
        rules.append("@keyframes cnb-run{to{stroke-dashoffset:-16}}")
    return "<style>\n" + "\n".join(rules) + "\n</style>"
