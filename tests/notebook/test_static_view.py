"""The static HTML (for saved notebooks and viewers without widgets) and the bundles outside a kernel."""

from __future__ import annotations

import re

import pytest

import covalent_nb as ct
from covalent_nb.notebook.display import in_widget_kernel, mime_bundle_for
from covalent_nb.notebook.dispatch_state import DispatchState
from covalent_nb.notebook.graph_view import STATUS_COLOURS
from covalent_nb.notebook.static_view import format_duration, static_html, summary_html
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
    assert "done 3 / failed 1 / running 0 / pending 1 of 5" in page
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
