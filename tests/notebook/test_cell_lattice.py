"""A cell's source compiled into a lattice: inputs, globals, assigned names, the last expression."""

from __future__ import annotations

import inspect
import math
import textwrap
from typing import Any

import cloudpickle
import pytest

import covalent_nb as ct
from covalent_nb.errors import GraphBuildError
from covalent_nb.notebook.cell_lattice import (LAST_KEY, CellSyntaxError, is_data,
                                               lattice_from_cell)
from covalent_nb.notebook.node_kinds import CELL_DOC
from covalent_nb.workflow import TransportGraph, build_manifest
from covalent_nb.workflow.collection import CollectionTemplate


@ct.electron
def add(x: int, y: int) -> int:
    return x + y


@ct.electron
def double(x: int) -> int:
    return 2 * x


def notebook(**values: Any) -> dict[str, Any]:
    """A notebook namespace like IPython's: ``__name__`` is ``__main__``."""
    return {"__name__": "__main__", "add": add, "double": double, "math": math, **values}


def cell(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def electron_names(graph: TransportGraph) -> list[str]:
    return sorted(graph.node(n)["name"] for n in graph.node_ids() if graph.node(n)["kind"] == "electron")


def test_data_the_cell_reads_are_inputs_and_code_comes_from_the_notebook() -> None:
    ns = notebook(x=3, data=[1, 2], unused=99)
    compiled = lattice_from_cell(cell("""
        y = add(x, data[0])
        z = double(y) + math.floor(2.5)
    """), ns)
    assert compiled.kwargs == {"x": 3, "data": [1, 2]}
    assert compiled.lattice.workflow_function.__globals__ is ns
    assert list(inspect.signature(compiled.lattice.workflow_function).parameters) == ["x", "data"]
    assert electron_names(compiled.lattice.build_graph(**compiled.kwargs)) == ["add", "double"]


def test_assigned_names_in_order_and_the_last_expression() -> None:
    compiled = lattice_from_cell(cell("""
        a = add(1, 2)
        b, c = 3, 4
        for i in range(2):
            a = add(a, i)
        import os.path
        a
    """), notebook())
    assert compiled.assigned == ["a", "b", "c", "i", "os"]
    assert compiled.has_last_expr
    assert not lattice_from_cell("a = add(1, 2)\n", notebook()).has_last_expr


def test_the_graph_holds_the_cells_electron_calls_and_returns_the_assigned_values() -> None:
    compiled = lattice_from_cell(cell("""
        y = add(x, 1)
        z = double(y)
        plain = x * 10
        z
    """), notebook(x=5))
    graph = compiled.lattice.build_graph(**compiled.kwargs)
    assert electron_names(graph) == ["add", "double"]
    output = graph.node(graph.output)
    assert output["kind"] == "collection"
    template: CollectionTemplate = output["function"]
    # the output dict: y and z come from the tasks, plain is a value computed while building
    filled = template.fill(*range(template.slot_count))
    assert set(filled) == {"y", "z", "plain", LAST_KEY}
    assert filled["plain"] == 50
    assert filled[LAST_KEY] == filled["z"]


def test_a_name_read_then_reassigned_is_an_input() -> None:
    compiled = lattice_from_cell("x = add(x, 1)\n", notebook(x=1))
    assert compiled.kwargs == {"x": 1}
    assert compiled.assigned == ["x"]
    compiled.lattice.build_graph(**compiled.kwargs)  # no UnboundLocalError


def test_an_electron_rebound_after_use_still_resolves() -> None:
    compiled = lattice_from_cell("y = add(1, 2)\nadd = ct.electron(lambda a, b: a - b)\n",
                                 notebook(ct=ct))
    assert compiled.kwargs == {}  # code is never an input
    graph = compiled.lattice.build_graph()
    assert electron_names(graph) == ["add"]
    assert "add" in compiled.definitions and compiled.definitions["add"] is not add


def test_modules_functions_classes_electrons_and_lattices_are_not_inputs() -> None:
    class Config:
        pass

    @ct.lattice
    def flow(v: int) -> int:
        return add(v, v)

    ns = notebook(Config=Config, flow=flow, helper=len, number=2.5)
    compiled = lattice_from_cell("r = (Config, flow, helper, math, add, number)\n", ns)
    assert compiled.kwargs == {"number": 2.5}
    assert [is_data(v) for v in (Config, flow, len, math, add, 2.5, [add])] == \
           [False, False, False, False, False, True, True]


def test_names_bound_inside_nested_scopes_are_not_inputs() -> None:
    compiled = lattice_from_cell(cell("""
        squares = [v * v for v in values]
        scale = lambda s: s * factor
        def shifted(w):
            return w + offset
        total = shifted(scale(sum(squares)))
    """), notebook(values=[1, 2], factor=3, offset=1, v=100, w=200, s=300))
    assert compiled.kwargs == {"values": [1, 2], "factor": 3, "offset": 1}
    graph = compiled.lattice.build_graph(**compiled.kwargs)
    template = graph.node(graph.output)
    assert template["kind"] == "parameter"  # no electron in this cell: the output is a value
    assert set(compiled.definitions) == {"scale", "shifted"}


def test_definitions_stay_on_the_client_and_the_lattice_pickles() -> None:
    compiled = lattice_from_cell(cell("""
        def helper(v):
            return v + 1
        y = add(helper(x), 1)
    """), notebook(x=1))
    manifest, _ = build_manifest(compiled.lattice, (), compiled.kwargs)
    assert manifest["name"] == "covalent_cell"
    assert manifest["lattice"]["source"].startswith("def helper(v):")
    assert set(manifest["inputs"]["kwargs"]) == {"x"}
    assert compiled.definitions["helper"](1) == 2
    assert compiled.definitions["helper"].__qualname__ == "covalent_cell.<locals>.helper"
    rebuilt = cloudpickle.loads(cloudpickle.dumps(compiled.lattice))
    assert rebuilt.build_graph(x=1).output is not None


def test_name_source_and_executor_default() -> None:
    text = "y = add(1, 2)\n"
    compiled = lattice_from_cell(text, notebook(), name="my cell", executor="local")
    assert compiled.lattice.__name__ == "my cell"
    assert compiled.lattice.source == text
    assert compiled.lattice.executor_spec == {"name": "local", "attrs": {}}
    manifest, _ = build_manifest(compiled.lattice, (), compiled.kwargs)
    assert manifest["lattice"]["executor"] == {"name": "local", "attrs": {}}
    electron = next(n for n in manifest["nodes"] if n["kind"] == "electron")
    assert electron["executor"] is None  # takes the lattice's default
    assert lattice_from_cell(text, notebook()).lattice.executor_spec is None


def test_the_lattice_doc_marks_a_cell_and_keeps_a_leading_string() -> None:
    compiled = lattice_from_cell("y = add(1, 2)\n", notebook())
    manifest, _ = build_manifest(compiled.lattice, (), compiled.kwargs)
    assert manifest["lattice"]["doc"] == CELL_DOC             # displays call its output the cell's result
    described = lattice_from_cell('"""Adds."""\ny = add(1, 2)\n', notebook()).lattice.__doc__
    assert described == f"{CELL_DOC}\n\nAdds."


@pytest.mark.parametrize("text, line, fragment", [
    ("a = 1\nb = (2,\n", 2, "'(' was never closed"),
    ("a = 1\n%time a\n", 2, "IPython magics and shell commands"),
    ("return 5\n", 1, "'return' outside function"),
    ("from os import *\n", 1, "import * only allowed at module level"),
])
def test_syntax_errors_name_the_line_and_text(text: str, line: int, fragment: str) -> None:
    with pytest.raises(CellSyntaxError) as caught:
        lattice_from_cell(text, notebook())
    error = caught.value
    assert error.lineno == line
    assert fragment in str(error)
    assert text.splitlines()[line - 1].strip() in str(error)
    assert "Nothing was dispatched" in str(error)
    rendered = "".join(error._render_traceback_())
    assert "CellSyntaxError" in rendered and "Traceback" not in rendered


def test_a_build_error_names_the_cell_and_its_line() -> None:
    compiled = lattice_from_cell("a = add(1, 2)\nb = double(missing)\n", notebook(), name="failing")
    with pytest.raises(GraphBuildError, match="'failing'.*NameError.*missing") as caught:
        compiled.lattice.build_graph()
    assert compiled.error_line(caught.value) == 2


def test_an_empty_cell_builds_an_empty_output() -> None:
    compiled = lattice_from_cell("# nothing\n", notebook())
    assert compiled.assigned == [] and not compiled.has_last_expr
    graph = compiled.lattice.build_graph()
    assert graph.node(graph.output)["kind"] == "parameter"
