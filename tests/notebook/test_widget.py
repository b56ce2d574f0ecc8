"""DispatchWidget state without a frontend: traits after events, the refresh throttle, details."""

from __future__ import annotations

import asyncio
import copy
import html
import os
import time
from typing import Any

import pytest

from covalent_nb.notebook.graph_view import GRAPHVIZ_MISSING, STATUS_COLOURS
from covalent_nb.notebook.live import EventStream
from covalent_nb.notebook.widget import DispatchWidget, RefreshThrottle

from .dispatch_views import (dispatch_event, fan_out_view, finished_small_view, helpers_view, node_event,
                             small_view)


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_traits_follow_events() -> None:
    view = small_view()
    widget = DispatchWidget(view, live=False, clock=FakeClock())
    assert widget.status == "RUNNING"
    # the four electrons; the list gathering boom's and square's outputs is a helper, not a task
    assert widget.counts == {"done": 0, "failed": 0, "running": 0, "pending": 4, "cancelled": 0, "total": 4}
    for node_id, status in [(2, "RUNNING"), (2, "COMPLETED"), (4, "RUNNING"), (4, "COMPLETED"),
                            (5, "RUNNING"), (6, "RUNNING"), (5, "FAILED")]:
        widget.on_event(node_event(view, node_id, status))
    widget.on_event(node_event({"id": "another-dispatch", "nodes": view["nodes"]}, 6, "COMPLETED"))
    widget.flush()
    assert widget.counts == {"done": 2, "failed": 1, "running": 1, "pending": 0, "cancelled": 0, "total": 4}
    assert widget.node_statuses["5"] == "FAILED" and widget.node_statuses["6"] == "RUNNING"
    assert widget.node_statuses["0"] == "COMPLETED"      # a parameter
    assert widget.status == "RUNNING"
    assert "done 2 / failed 1 / running 1 / pending 0 of 4" in widget._header.value
    widget.on_event(dispatch_event(view, "FAILED"))      # terminal: shown at once, no flush needed
    assert widget.status == "FAILED"
    assert "FAILED" in widget._header.value


def test_progress_counts_the_seven_electrons_not_the_helpers() -> None:
    view = helpers_view()
    widget = DispatchWidget(view, live=False, clock=FakeClock())
    assert len(view["nodes"]) == 17                       # 7 electrons, 4 helpers, 6 parameters
    assert widget.counts["total"] == 7 and widget.counts["pending"] == 7
    assert "pending 7 of 7" in widget._header.value
    for node in view["nodes"]:
        if node["kind"] != "parameter":
            widget.on_event(node_event(view, node["node_id"], "COMPLETED"))
    widget.flush()
    assert widget.counts == {"done": 7, "failed": 0, "running": 0, "pending": 0, "cancelled": 0, "total": 7}
    assert "done 7 / failed 0 / running 0 / pending 0 of 7" in widget._header.value
    assert "of 11" not in widget._header.value and "of 17" not in widget._header.value
    # the helpers are still drawn and coloured live, like the tasks
    item = next(n["node_id"] for n in view["nodes"] if n["name"] == ":load.__getitem__")
    rule = next(line for line in widget._style_block.value.splitlines() if STATUS_COLOURS["COMPLETED"] in line)
    assert f"#{widget._dom_prefix}-node-{item} " in rule


def test_the_selector_and_details_name_helpers_and_say_pending() -> None:
    view = helpers_view()
    widget = DispatchWidget(view, live=False, clock=FakeClock())
    labels = [label for label, _value in widget._selector.options[1:]]
    assert "load (0) — pending" in labels and "[0] (2) — pending" in labels
    assert "+ (5) — pending" in labels and "list (12) — pending" in labels and ".real (15) — pending" in labels
    assert not any("NEW_OBJECT" in label or ":electron_list:" in label for label in labels)
    widget.selected_node = 3                              # scale, fed by load's output's item [0]
    details = widget._details.value
    assert "<b>scale</b> (node 3, electron)" in details
    assert "output of [0] (2)" in details
    assert ">pending</span>" in details and 'data-status="NEW_OBJECT"' in details and ">NEW_OBJECT<" not in details
    widget.selected_node = 15
    assert "<b>.real</b> (node 15, attribute)" in widget._details.value
    assert widget.node_statuses["0"] == "NEW_OBJECT"      # the data keeps Covalent's status
    widget.on_event(node_event(view, 3, "RUNNING"))
    widget.flush()
    assert ("scale (3) — RUNNING", 3) in widget._selector.options


def test_style_updates_never_rerender_the_svg() -> None:
    view = small_view()
    widget = DispatchWidget(view, live=False, clock=FakeClock())
    svg_before = widget._graph.value
    assert widget.svg_renders == 1 and widget.style_updates == 1 and "<svg" in svg_before
    widget.on_event(node_event(view, 5, "RUNNING"))
    widget.flush()
    widget.on_event(node_event(view, 5, "FAILED"))
    widget.flush()
    assert widget.style_updates == 3
    assert widget.svg_renders == 1
    assert widget._graph.value == svg_before
    style = widget._style_block.value
    assert style.startswith("<style>")
    failed_rule = next(line for line in style.splitlines() if STATUS_COLOURS["FAILED"] in line)
    assert f"#{widget._dom_prefix}-node-5 " in failed_rule
    widget.flush()                                        # nothing changed: the style block is not rewritten
    assert widget.style_updates == 3


def test_throttle_bounds_refreshes_with_many_events() -> None:
    view = fan_out_view(500)
    clock = FakeClock()
    widget = DispatchWidget(view, live=False, clock=clock, interval=0.1)
    start, refreshes_before = clock.now, widget.refreshes
    squares = [n["node_id"] for n in view["nodes"] if n["name"] == "square"]
    events = [node_event(view, i, s) for i in squares for s in ("RUNNING", "COMPLETED")]
    assert len(events) == 1000
    for event in events:
        widget.on_event(event)
        clock.now += 0.001                                # 1000 events in one second
    elapsed = clock.now - start
    refreshes = widget.refreshes - refreshes_before
    assert elapsed / 0.1 - 1 <= refreshes <= elapsed / 0.1 + 1   # about one per interval, never more
    assert widget.style_updates <= refreshes + 1
    widget.flush()
    assert widget.counts["done"] == 500 and widget.counts["pending"] == 2      # make_data, total
    assert widget.svg_renders == 1


def test_throttle_on_a_running_loop_shows_the_last_event_without_flush() -> None:
    view = fan_out_view(200)
    widget = DispatchWidget(view, live=False, interval=0.1)
    squares = [n["node_id"] for n in view["nodes"] if n["name"] == "square"]

    async def feed() -> tuple[float, int]:
        start, before = time.monotonic(), widget.refreshes
        for i in squares:
            widget.on_event(node_event(view, i, "RUNNING"))
            widget.on_event(node_event(view, i, "COMPLETED"))
            await asyncio.sleep(0.002)
        elapsed = time.monotonic() - start
        refreshes = widget.refreshes - before
        await asyncio.sleep(0.25)                         # the trailing refresh fires on the loop's timer
        return elapsed, refreshes

    elapsed, refreshes = asyncio.run(feed())
    assert refreshes <= elapsed / 0.1 + 1
    assert widget.counts["done"] == 200                   # shown without flush()


def test_throttle_runs_at_once_after_a_quiet_interval() -> None:
    clock, runs = FakeClock(), []
    throttle = RefreshThrottle(lambda: runs.append(clock.now), interval=0.1, clock=clock)
    throttle.request()
    throttle.request()
    assert runs == [1000.0] and throttle.pending
    clock.now += 0.2
    throttle.request()
    assert runs == [1000.0, 1000.2] and not throttle.pending


def test_selection_shows_details_and_survives_option_refreshes() -> None:
    view = small_view()
    widget = DispatchWidget(view, live=False, clock=FakeClock())
    assert widget._selector.options[1] == ("add (2) — pending", 2)
    assert widget._selector.index == 0 and widget.selected_node is None
    assert len(widget._selector.options) == 6             # "choose" + five non-parameter nodes
    widget._selector.value = 4
    assert widget.selected_node == 4
    assert "<b>add</b> (node 4" in widget._details.value
    assert "<code>y=</code>" in widget._details.value and "value <code>2</code>" in widget._details.value
    assert "output of add (2)" in widget._details.value
    widget.on_event(node_event(view, 4, "RUNNING"))
    widget.flush()
    assert ("add (4) — RUNNING", 4) in widget._selector.options
    assert widget._selector.value == 4 and widget.selected_node == 4
    assert STATUS_COLOURS["RUNNING"] in widget._details.value
    widget._selector.index = 0                            # back to "choose a node"
    assert widget.selected_node is None and widget._details.value == ""


def test_details_of_a_failed_node_show_the_traceback_escaped() -> None:
    widget = DispatchWidget(finished_small_view(), live=False)
    widget.selected_node = 5
    details = widget._details.value
    assert widget._selector.value == 5
    assert "ZeroDivisionError: division by zero" in details
    assert "Traceback (most recent call last):" in details
    assert 'File &quot;&lt;cell&gt;&quot;, line 3, in boom' in details
    assert "about to divide" in details and "warning: &lt;careful&gt;" in details
    assert "local" in details                             # the executor
    assert "0.500 s" in details                           # the duration


def test_a_finished_dispatch_makes_no_connection() -> None:
    connects: list[str] = []

    async def connect(url: str, token: str | None):
        connects.append(url)
        raise AssertionError("a finished dispatch must not connect")

    stream = EventStream("http://127.0.0.1:9/", "t", connect)

    async def show() -> DispatchWidget:
        widget = DispatchWidget(finished_small_view(), stream=stream)
        await asyncio.sleep(0.05)
        return widget

    widget = asyncio.run(show())
    assert connects == [] and stream.connections == 0
    assert stream.listener_count() == 0 and not stream.running
    assert widget.live is False and widget.status == "FAILED"


def test_a_running_dispatch_registers_and_unregisters_when_it_ends() -> None:
    view = small_view()
    stream = EventStream("http://127.0.0.1:9/", "t", _never_connect)

    async def run() -> tuple[DispatchWidget, int]:
        widget = DispatchWidget(view, stream=stream)
        registered = stream.listener_count()
        widget.on_event(dispatch_event(view, "CANCELLED"))
        await asyncio.sleep(0)
        return widget, registered

    widget, registered = asyncio.run(run())
    assert registered == 1 and stream.listener_count() == 0
    assert widget.live is False and widget.status == "CANCELLED"


async def _never_connect(url: str, token: str | None):
    await asyncio.sleep(3600)


class ViewSource:
    """Stands in for the HTTP connection (the race it covers cannot be produced on demand with a
    real server): answers GET dispatches/{id} with a prepared view."""

    url, token = "http://127.0.0.1:9/", "t"

    def __init__(self, view: dict[str, Any]) -> None:
        self.view = view
        self.paths: list[str] = []

    def get_json(self, path: str) -> dict[str, Any]:
        self.paths.append(path)
        return self.view


class SilentSocket:
    """An event connection on which nothing happens until it is closed."""

    def __init__(self) -> None:
        self.closed = asyncio.Event()

    async def read_message(self) -> None:
        await self.closed.wait()

    def close(self) -> None:
        self.closed.set()


def test_when_the_stream_opens_the_widget_re_reads_without_going_back() -> None:
    view = small_view()
    fresher = copy.deepcopy(view)                         # what the dispatcher says a moment later
    fresher["nodes"][2].update(status="COMPLETED", start_time=1.0e9, end_time=1.0e9 + 1)
    fresher["nodes"][4]["status"] = "RUNNING"
    source = ViewSource(fresher)

    async def connect(url: str, token: str | None) -> SilentSocket:
        return SilentSocket()

    async def run() -> DispatchWidget:
        widget = DispatchWidget(view, connection=source, stream=EventStream(source.url, "t", connect))
        widget.on_event(node_event(view, 4, "COMPLETED"))  # newer than the re-read view
        for _ in range(50):
            await asyncio.sleep(0.01)
            if source.paths and widget.node_statuses.get("2") == "COMPLETED":
                break
        widget.flush()
        widget.close()
        return widget

    widget = asyncio.run(run())
    assert source.paths == [f"dispatches/{view['id']}"]   # read once, when the stream opened
    assert widget.node_statuses["2"] == "COMPLETED"        # missed before the stream: caught up
    assert widget.node_statuses["4"] == "COMPLETED"        # the older view did not undo the event


def test_closing_a_live_widget_unregisters_it() -> None:
    stream = EventStream("http://127.0.0.1:9/", "t", _never_connect)

    async def run() -> tuple[int, int]:
        widget = DispatchWidget(small_view(), stream=stream)
        before = stream.listener_count()
        widget.close()
        return before, stream.listener_count()

    assert asyncio.run(run()) == (1, 0)


def test_selecting_a_parameter_shows_it_without_listing_it() -> None:
    widget = DispatchWidget(small_view(), live=False)
    assert widget._selector.label.startswith("— choose a node")     # shown, not an empty box
    widget.selected_node = 3
    assert widget._selector.label.startswith("— choose a node")
    assert "<b>2</b> (node 3, parameter)" in widget._details.value
    assert repr(widget) == f"<DispatchWidget small {widget.dispatch_id} RUNNING>"


def test_without_a_loop_the_widget_says_it_is_not_live() -> None:
    widget = DispatchWidget(small_view(), stream=EventStream("http://127.0.0.1:9/", "t", _never_connect))
    assert widget.live is False
    assert "running event loop" in widget._header.value


def test_without_dot_the_widget_shows_the_message_and_a_table(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    # Simulated: PATH is an empty directory, so graphviz cannot find the `dot` program.
    monkeypatch.setenv("PATH", str(tmp_path))
    view = small_view()
    widget = DispatchWidget(view, live=False, clock=FakeClock())
    assert widget.svg_renders == 0
    assert html.escape(GRAPHVIZ_MISSING) in widget._graph.value
    assert "<td>boom</td>" in widget._graph.value and "<td>square</td>" in widget._graph.value
    widget.on_event(node_event(view, 5, "FAILED"))
    widget.flush()
    row = widget._graph.value.split("<td>boom</td>")[1].split("</tr>")[0]
    assert "FAILED" in row


def test_mime_bundle_has_the_widget_a_static_picture_and_text() -> None:
    widget = DispatchWidget(finished_small_view(), live=False)
    bundle = widget._repr_mimebundle_()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == widget.model_id
    assert "<svg" in bundle["text/html"] and "cnb-nodes" in bundle["text/html"]
    assert "FAILED" in bundle["text/plain"] and widget.dispatch_id in bundle["text/plain"]


def test_zoom_sets_the_graph_width() -> None:
    widget = DispatchWidget(small_view(), live=False)
    natural = float(widget._graph.layout.width.removesuffix("px"))
    widget.zoom = 2.0
    assert float(widget._graph.layout.width.removesuffix("px")) == pytest.approx(2 * natural, abs=1)
    widget.zoom = 0.0
    assert widget._graph.layout.width == "100%"


KERNEL_CELLS = [
    """
import time
import covalent_nb as ct
from covalent_nb.notebook import show_dispatch

@ct.electron
def pause(x, seconds):
    time.sleep(seconds)
    return x + 1

@ct.lattice
def steps(seconds):
    return pause(pause(1, seconds), seconds)

finished = ct.dispatch_sync(steps)(0.0)
finished
""",
    """
widget = show_dispatch(ct.dispatch(steps)(0.8))
widget
""",
    "print(widget.live, widget.status, widget.counts['done'], widget.events_applied > 0)",
]


def test_in_a_real_kernel_results_display_as_live_widgets(server) -> None:
    from jupyter_client.manager import start_new_kernel

    manager, client = start_new_kernel(kernel_name="python3", env=dict(os.environ))
    try:
        outputs = [_execute(client, cell) for cell in KERNEL_CELLS[:2]]
        time.sleep(4.0)                                   # the kernel is idle; its loop follows the events
        later = _pending_iopub(client)                    # what the kernel sent after the cells' ends
        printed = _execute(client, KERNEL_CELLS[2])
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    for data in outputs:
        assert WIDGET_VIEW in data, data.get("text/plain")
        assert "<svg" in data["text/html"] and "cnb-nodes" in data["text/html"]
    assert outputs[0]["text/plain"].startswith("<Result steps ")     # a Result keeps its repr as text
    assert printed["stdout"] == "False COMPLETED 2 True\n"
    # the live widget's output carries a display id and gets the final picture once the dispatch ends
    assert "COMPLETED" not in outputs[1]["text/plain"]
    updates = [m["content"] for m in later if m["msg_type"] == "update_display_data"]
    assert [u["transient"]["display_id"] for u in updates] == [outputs[1]["display_id"]]
    final = updates[0]["data"]
    assert final[WIDGET_VIEW]["model_id"] == outputs[1][WIDGET_VIEW]["model_id"]
    assert final["text/plain"].startswith("steps") and "COMPLETED" in final["text/plain"]
    assert 'data-status="COMPLETED"' in final["text/html"] and "<svg" in final["text/html"]


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def _pending_iopub(client: Any) -> list[dict[str, Any]]:
    """The iopub messages waiting in the client's queue."""
    import queue

    messages = []
    while True:
        try:
            messages.append(client.get_iopub_msg(timeout=0.5))
        except queue.Empty:
            return messages


def _execute(client: Any, code: str) -> dict[str, Any]:
    """Run one cell; the data it showed (plus "stdout", and "display_id" if the output has one),
    or raise with the kernel's error."""
    data: dict[str, Any] = {"stdout": ""}

    def hook(message: dict[str, Any]) -> None:
        kind, content = message["msg_type"], message["content"]
        if kind in ("execute_result", "display_data"):
            data.update(content["data"])
            if content.get("transient", {}).get("display_id"):
                data["display_id"] = content["transient"]["display_id"]
        elif kind == "stream" and content["name"] == "stdout":
            data["stdout"] += content["text"]
        elif kind == "error":
            raise AssertionError("\n".join(content["traceback"]))

    reply = client.execute_interactive(code, output_hook=hook, timeout=120)
    assert reply["content"]["status"] == "ok", reply["content"]
    return data
