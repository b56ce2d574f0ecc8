"""The static HTML (for saved notebooks and viewers without widgets) and the bundles outside a kernel."""

from __future__ import annotations

import re

import pytest

import covalent_nb as ct
from covalent_nb.client.connect import connection
from covalent_nb.notebook.cell_lattice import lattice_from_cell
from covalent_nb.notebook.display import in_widget_kernel, mime_bundle_for
from covalent_nb.notebook.dispatch_state import DispatchState
from covalent_nb.notebook.graph_view import STATUS_COLOURS
from covalent_nb.notebook.node_kinds import CELL_DOC
from covalent_nb.notebook.static_view import format_duration, static_html, summary_html, summary_text
from covalent_nb.result import Result

from .dispatch_views import finished_small_view, small_view


def test_static_html_has_summary_svg_with_statuses_and_table() -> None:
    view = finished_small_view()
    page = static_html(view)
    assert page.count("<svg") == 1 and "<?xml" not in page
    boom_group = re.search(r'<g id="cnb-5e1f0c2a-s[0-9a-f]+-node-5" class="node">(.*?)</g>\n</g>', page, re.S)
    assert boom_group and f'fill="{STATUS_COLOURS["FAILED"]}"' in boom_group.group(1)  # baked in, no CSS
    assert "<style" not in page
    table = page[page.index('<table class="cnb-nodes"'):]
    assert "<td>boom</td>" in table and "<td>square</td>" in table and "FAILED" in table
    assert ":parameter:" not in table                      # parameters are in the picture, not the table
    # the list gathering two outputs is listed as what it is, and not counted as a task
    assert "<td>list</td><td>collection</td>" in table and ":electron_list:" not in page
    assert ">pending</span>" in table and ">NEW_OBJECT<" not in page
    assert "done 3 / failed 1 / running 0 / pending 0 of 4" in page
    assert view["id"] in page and "<b>small</b>" in page


def test_static_html_uses_newer_statuses_than_the_view() -> None:
    view = small_view()
    state = DispatchState(view)
    state.apply_event({"type": "node", "dispatch_id": view["id"], "node_id": 6, "status": "RUNNING", "time": 5.0})
    page = static_html(view, state)
    assert "running 1" in page
    square = re.search(r'-node-6" class="node">(.*?)</g>\n</g>', page, re.S).group(1)
    assert f'fill="{STATUS_COLOURS["RUNNING"]}"' in square


def test_static_html_without_dot_still_has_the_table(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    # Simulated: PATH is an empty directory, so graphviz cannot find the `dot` program.
    monkeypatch.setenv("PATH", str(tmp_path))
    page = static_html(finished_small_view())
    assert "<svg" not in page
    assert "apt-get install graphviz" in page
    assert "<td>boom</td>" in page


def test_summary_shows_duration_and_progress() -> None:
    state = DispatchState(finished_small_view())
    header = summary_html(state, note="a note <here>")
    assert "2.000 s" in header and "FAILED" in header and "a note &lt;here&gt;" in header
    assert format_duration(0, 125) == "2 min 05 s" and format_duration(0, 3725) == "1 h 02 min"
    assert format_duration(None, 3) == "—"


def test_a_result_outside_a_kernel_is_text_and_html(server) -> None:
    @ct.lattice
    def doubled(x):
        return twice(x)

    assert not in_widget_kernel()
    result = ct.dispatch_sync(doubled)(21)
    assert result.result == 42
    bundle = result._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "text/html"}
    assert bundle["text/plain"] == repr(result)
    assert "<svg" in bundle["text/html"] and ">twice</text>" in bundle["text/html"]
    assert "COMPLETED" in bundle["text/html"]
    assert set(result._repr_mimebundle_(include=["text/plain"])) == {"text/plain"}
    assert set(result._repr_mimebundle_(exclude=["text/html"])) == {"text/plain"}
    by_id = mime_bundle_for(result.dispatch_id)
    assert set(by_id) == {"text/plain", "text/html"} and result.dispatch_id in by_id["text/plain"]


@ct.electron
def twice(x: int) -> int:
    return 2 * x


def test_result_bundle_from_a_stored_view_needs_no_server() -> None:
    result = Result(finished_small_view(), connection=None)
    bundle = result._repr_mimebundle_()
    assert "<svg" in bundle["text/html"] and bundle["text/plain"].startswith("<Result small ")


def test_a_dispatch_not_started_says_pending() -> None:
    state = DispatchState(small_view("NEW_OBJECT"))
    assert f"{state.dispatch_id}: pending, tasks done 0 / failed 0 / running 0 / pending 4 of 4" in summary_text(state)
    header = summary_html(state)
    assert 'data-status="NEW_OBJECT"' in header and ">pending</span>" in header and ">NEW_OBJECT<" not in header
    assert state.status == "NEW_OBJECT"                   # the data keeps Covalent's name


@ct.electron
def load(x: int) -> tuple[int, int]:
    return x, -x


@ct.electron
def scale(x: int) -> int:
    return 3 * x


@ct.electron
def prep(x: int, i: int) -> int:
    return x + i


@ct.electron
def total(values: list[int]) -> int:
    return sum(values)


@ct.electron
def report(x: int) -> str:
    return f"total {x}"


@ct.lattice
def with_helpers(x: int) -> str:
    first = scale(load(x)[0]) + 1
    return report(total([prep(first, i) for i in range(3)]).real)


def test_a_real_dispatch_counts_its_seven_electrons_and_names_its_helpers(server) -> None:
    result = ct.dispatch_sync(with_helpers)(2)
    assert result.result == "total 24"                    # 3 * (3*2 + 1) + 0 + 1 + 2
    view = connection().get_json(f"dispatches/{result.dispatch_id}")
    assert sum(n["kind"] in ("collection", "generated") for n in view["nodes"]) == 4
    page = result._repr_mimebundle_()["text/html"]
    assert "done 7 / failed 0 / running 0 / pending 0 of 7" in page
    for label in ("[0]", "+", "list", ".real"):
        assert f">{label}</text>" in page, label
    table = page[page.index('<table class="cnb-nodes"'):]
    assert "<td>[0]</td><td>getitem</td>" in table and "<td>+</td><td>arithmetic</td>" in table
    assert "<td>.real</td><td>attribute</td>" in table and "<td>list</td><td>collection</td>" in table
    assert "__getitem__" not in page and "__getattr__" not in page and ":electron_list:" not in page


def test_a_cells_result_node_is_called_the_cell_result(server) -> None:
    compiled = lattice_from_cell("y = twice(x)\nz = twice(y)\n", {"__name__": "__main__", "twice": twice, "x": 5},
                                 name="cell_shown")
    result = ct.dispatch_sync(compiled.lattice)(**compiled.kwargs)
    assert result.result == {"y": 10, "z": 20}
    view = connection().get_json(f"dispatches/{result.dispatch_id}")
    assert view["lattice"]["doc"].startswith(CELL_DOC)
    output = next(n for n in view["nodes"] if n["node_id"] == view["output_node"])
    assert output["name"] == ":electron_dict:"            # the data keeps the builder's name
    page = static_html(view)
    assert ">cell result</text>" in page and ">dict</text>" not in page
    assert "<td>cell result</td><td>cell result</td>" in page
    assert "done 2 / failed 0 / running 0 / pending 0 of 2" in page
