"""What the displays of a dispatch call its nodes and their statuses.

One set of rules for every view (the widget, the static HTML, tables, text
tables), read from a dispatch view as ``GET dispatches/{id}`` returns it:

- **the user's tasks** are the electrons and sublattices the user wrote
  (:func:`is_user_task`); only they count in progress. Parameters hold
  literal inputs; *helper* nodes are what the graph builder made for the
  user's expressions: collections of task outputs (``[a, b]``), items
  (``out[0]``), attributes (``out.x``), arithmetic (``out + 1``) and the
  result of a ``%%covalent`` cell;
- **labels** say what a node is: a task's name, ``list``, ``[0]``, ``.x``,
  ``+``, ``cell result`` (:func:`describe_nodes`);
- **statuses** keep Covalent's names in the data; displays show
  :func:`display_status`, which says ``pending`` for a task that has not
  started (Covalent's ``NEW_OBJECT``).

Importing this module imports nothing beyond the standard library.
"""

from __future__ import annotations

import ast
import dataclasses
import re
from typing import Any, Mapping

__all__ = ["CELL_DOC", "CELL_RESULT", "HELPER_ROLES", "NodeDescription", "PENDING", "TASK_KINDS",
           "describe_nodes", "display_status", "is_cell_view", "is_user_task"]

TASK_KINDS = frozenset({"electron", "sublattice"})
"""Node kinds that are the user's tasks."""

HELPER_ROLES = frozenset({"collection", "getitem", "attribute", "arithmetic", "cell result", "helper"})
"""The roles of nodes the graph builder made for the user's expressions (drawn small)."""

PENDING = "pending"
"""What displays say for a node or dispatch that has not started (Covalent's ``NEW_OBJECT``)."""

CELL_DOC = "The workflow of a %%covalent notebook cell."
"""The docstring a ``%%covalent`` cell's lattice starts with; marks the dispatch as a cell's."""

CELL_RESULT = "cell result"
"""The label of the node gathering the values a ``%%covalent`` cell assigns."""

_STATUS_LABELS = {"NEW_OBJECT": PENDING}
_COLLECTIONS = {":electron_list:": "list", ":electron_tuple:": "tuple", ":electron_set:": "set",
                ":electron_dict:": "dict"}
_OPERATORS = {"add": "+", "sub": "-", "mul": "*", "truediv": "/", "floordiv": "//", "mod": "%", "pow": "**"}
# Names the graph builder gives generated nodes when a view lacks ``function_name``:
# ":out.__getitem__", ":out()[2]" (an unpacked item), ":out.__getattr__", "a_+_b".
_ITEM_NAME = re.compile(r"\(\)\[(-?\d+)\]\Z")
_OPERATOR_NAME = re.compile(r"_(\*\*|//|[-+*/%])_")
_MAX_LABEL = 24


@dataclasses.dataclass(frozen=True)
class NodeDescription:
    """How displays show one node: ``label`` (what is drawn and listed) and ``role``.

    ``role`` is ``electron``, ``sublattice``, ``parameter``, ``collection``,
    ``getitem``, ``attribute``, ``arithmetic``, ``cell result`` or ``helper``
    (another generated node).
    """

    label: str
    role: str

    @property
    def is_task(self) -> bool:
        """True for the user's tasks (electrons and sublattices)."""
        return self.role in TASK_KINDS

    @property
    def is_helper(self) -> bool:
        """True for nodes the graph builder made for the user's expressions."""
        return self.role in HELPER_ROLES


def is_user_task(kind: str) -> bool:
    """Whether a node of this kind is one of the user's tasks (an electron or a sublattice)."""
    return kind in TASK_KINDS


def display_status(status: Any) -> str:
    """The status as displays show it: ``pending`` for ``NEW_OBJECT``, other names unchanged."""
    text = str(status)
    return _STATUS_LABELS.get(text, text)


def is_cell_view(view: Mapping[str, Any]) -> bool:
    """Whether the dispatch is a ``%%covalent`` cell's (its lattice's doc starts with :data:`CELL_DOC`)."""
    lattice = view.get("lattice") or {}
    doc = lattice.get("doc") if isinstance(lattice, Mapping) else None
    return isinstance(doc, str) and doc.startswith(CELL_DOC)


def describe_nodes(view: Mapping[str, Any]) -> dict[int, NodeDescription]:
    """Label and role of every node of a dispatch view, by node id."""
    nodes = {n["node_id"]: n for n in view["nodes"]}
    second_input: dict[int, int] = {}
    for edge in view.get("edges", ()):
        param = edge.get("param") or {}
        if param.get("kind") == "arg" and param.get("index") == 1:
            second_input[edge["target"]] = edge["source"]
    cell_result = view.get("output_node") if is_cell_view(view) else None
    described = {}
    for node_id, node in nodes.items():
        operand = nodes.get(second_input.get(node_id, -1))
        described[node_id] = _describe(node, operand, node_id == cell_result)
    return described


def _describe(node: Mapping[str, Any], operand: Mapping[str, Any] | None, cell_result: bool) -> NodeDescription:
    kind, name = node["kind"], str(node["name"])
    if kind == "electron":
        return NodeDescription(name, "electron")
    if kind == "sublattice":
        return NodeDescription(name.removeprefix(":sublattice:"), "sublattice")
    if kind == "parameter":
        return NodeDescription(_short(_parameter_text(node)), "parameter")
    if cell_result:
        return NodeDescription(CELL_RESULT, "cell result")
    if kind == "collection":
        return NodeDescription(_COLLECTIONS.get(name, name.strip(":").removeprefix("electron_")), "collection")
    return _describe_generated(node, operand)


def _describe_generated(node: Mapping[str, Any], operand: Mapping[str, Any] | None) -> NodeDescription:
    name, function = str(node["name"]), node.get("function_name")
    key = _parameter_text(operand) if operand is not None and operand["kind"] == "parameter" else None
    item = _ITEM_NAME.search(name)
    if function == "getitem" or name.endswith(".__getitem__") or item:
        key = key if key is not None else (item.group(1) if item else "…")
        return NodeDescription(_short(f"[{key}]"), "getitem")
    if function == "getattr" or name.endswith(".__getattr__"):
        return NodeDescription(_short("." + _unquoted(key) if key is not None else ".…"), "attribute")
    symbol = _OPERATORS.get(function or "")
    if symbol is None and function is None:
        match = _OPERATOR_NAME.search(name)
        symbol = match.group(1) if match else None
    if symbol is not None:
        return NodeDescription(symbol, "arithmetic")
    return NodeDescription(_short(name.strip(":")), "helper")


def _parameter_text(node: Mapping[str, Any]) -> str:
    return str(node["name"]).removeprefix(":parameter:")


def _unquoted(text: str) -> str:
    """``'x'`` (a string's repr) -> ``x``; anything else unchanged."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return text
    return value if isinstance(value, str) else text


def _short(text: str) -> str:
    return text if len(text) <= _MAX_LABEL else text[:_MAX_LABEL - 1] + "…"
