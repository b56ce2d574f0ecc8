"""Dispatch views shaped like ``GET dispatches/{id}``, for widget and graph tests without a server."""

from __future__ import annotations

from typing import Any

TRACEBACK = ('Traceback (most recent call last):\n  File "<cell>", line 3, in boom\n'
             "    return 1 / 0\nZeroDivisionError: division by zero\n")


class ViewBuilder:
    """Adds nodes and edges to a view, the way the dispatcher records them."""

    def __init__(self, dispatch_id: str, name: str, status: str = "RUNNING") -> None:
        self.view: dict[str, Any] = {
            "id": dispatch_id, "name": name, "status": status, "created": 1.0e9,
            "start_time": 1.0e9 if status != "NEW_OBJECT" else None, "end_time": None,
            "error": None, "output_node": None, "output_key": None, "nodes": [], "edges": [],
            "progress": {}, "blobs": {}, "inputs": {"args": [], "kwargs": {}}, "lattice": {}}

    def node(self, name: str, kind: str = "electron", status: str = "NEW_OBJECT", **fields: Any) -> int:
        """Add a node; parameters are COMPLETED like the dispatcher records them."""
        node_id = len(self.view["nodes"])
        record = {"node_id": node_id, "name": name, "kind": kind,
                  "status": "COMPLETED" if kind == "parameter" else status,
                  "start_time": None, "end_time": None, "executor": None, "output_key": None,
                  "output_size": None, "error": None, "traceback": None, "stdout": None,
                  "stderr": None, "sub_dispatch_id": None}
        record.update(fields)
        self.view["nodes"].append(record)
        return node_id

    def edge(self, source: int, target: int, kind: str = "arg", index: int = 0, name: str = "") -> None:
        """Add an edge with its parameter (``arg`` index, ``kwarg`` name or ``wait``)."""
        param: dict[str, Any] = {"kind": kind}
        if kind == "arg":
            param["index"] = index
        elif kind == "kwarg":
            param["name"] = name
        self.view["edges"].append({"source": source, "target": target, "param": param})


def small_view(status: str = "RUNNING") -> dict[str, Any]:
    """add(1, 2) -> add(., y=2) -> boom(.) and square(.), gathered in a list; nothing has run yet."""
    b = ViewBuilder("5e1f0c2a-0000-4000-8000-000000000001", "small", status)
    one, two = b.node(":parameter:1", "parameter"), b.node(":parameter:2", "parameter")
    first = b.node("add")
    b.edge(one, first, index=0)
    b.edge(two, first, index=1)
    y = b.node(":parameter:2", "parameter")
    second = b.node("add")
    b.edge(first, second, index=0)
    b.edge(y, second, "kwarg", name="y")
    boom = b.node("boom", executor={"name": "local", "attrs": {}})
    b.edge(second, boom)
    square = b.node("square")
    b.edge(second, square)
    gathered = b.node(":electron_list:", "collection")
    b.edge(boom, gathered, index=0)
    b.edge(square, gathered, index=1)
    return b.view


def finished_small_view() -> dict[str, Any]:
    """:func:`small_view` after it ran: boom FAILED with a traceback, the rest COMPLETED."""
    view = small_view("FAILED")
    view["end_time"] = 1.0e9 + 2
    for node in view["nodes"]:
        node.update(status="COMPLETED", start_time=1.0e9 + 1, end_time=1.0e9 + 1.5)
        if node["name"] == "boom":
            node.update(status="FAILED", error="ZeroDivisionError: division by zero",
                        traceback=TRACEBACK, stdout="about to divide\n", stderr="warning: <careful>\n")
        if node["kind"] == "collection":
            node.update(status="NEW_OBJECT", start_time=None, end_time=None)
    return view


def fan_out_view(width: int) -> dict[str, Any]:
    """make_data -> ``width`` x square(i, data=...) -> list -> total, nothing run yet."""
    b = ViewBuilder(f"fa000000-0000-4000-8000-{width:012d}", f"fan_{width}")
    data = b.node("make_data")
    squares = []
    for i in range(width):
        value = b.node(f":parameter:{i}", "parameter")
        square = b.node("square")
        b.edge(value, square, index=0)
        b.edge(data, square, "kwarg", name="data")
        squares.append(square)
    gathered = b.node(":electron_list:", "collection")
    for i, square in enumerate(squares):
        b.edge(square, gathered, index=i)
    total = b.node("total")
    b.edge(gathered, total)
    return b.view


def helpers_view(status: str = "RUNNING") -> dict[str, Any]:
    """Seven electrons and the helper nodes their lattice body made, named as the builder names them::

        pair = load(); x = scale(pair[0]) + 1
        t = total([prep(x, i) for i in range(3)]); report(t.real)

    The helpers carry ``function_name`` as the server's view does; nothing has run yet.
    """
    b = ViewBuilder("4e1b0000-0000-4000-8000-000000000007", "with_helpers", status)
    load = b.node("load")
    zero = b.node(":parameter:0", "parameter")
    item = b.node(":load.__getitem__", "generated", function_name="getitem")
    b.edge(load, item, index=0)
    b.edge(zero, item, index=1)
    scale = b.node("scale")
    b.edge(item, scale)
    one = b.node(":parameter:1", "parameter")
    plus = b.node("scale_+_1", "generated", function_name="add")
    b.edge(scale, plus, index=0)
    b.edge(one, plus, index=1)
    preps = []
    for i in range(3):
        value = b.node(f":parameter:{i}", "parameter")
        prep = b.node("prep")
        b.edge(plus, prep, index=0)
        b.edge(value, prep, index=1)
        preps.append(prep)
    gathered = b.node(":electron_list:", "collection", function_name="CollectionTemplate.fill")
    for i, prep in enumerate(preps):
        b.edge(prep, gathered, index=i)
    total = b.node("total")
    b.edge(gathered, total)
    attr_name = b.node(":parameter:'real'", "parameter")
    attribute = b.node(":total.__getattr__", "generated", function_name="getattr")
    b.edge(total, attribute, index=0)
    b.edge(attr_name, attribute, index=1)
    report = b.node("report")
    b.edge(attribute, report)
    b.view["output_node"] = report
    return b.view


def node_event(view: dict[str, Any], node_id: int, status: str, time: float = 1.0e9 + 1) -> dict[str, Any]:
    """A ``node`` event as the dispatcher pushes it."""
    name = view["nodes"][node_id]["name"]
    return {"type": "node", "dispatch_id": view["id"], "node_id": node_id, "name": name,
            "status": status, "time": time}


def dispatch_event(view: dict[str, Any], status: str, time: float = 1.0e9 + 3) -> dict[str, Any]:
    """A ``dispatch`` event as the dispatcher pushes it."""
    return {"type": "dispatch", "dispatch_id": view["id"], "status": status,
            "terminal": status in ("COMPLETED", "FAILED", "CANCELLED"), "time": time}
