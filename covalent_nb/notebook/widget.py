"""``DispatchWidget``: a dispatch's status, progress and transport graph, live beside the cell.

The graph's SVG is produced once. Status changes only rewrite a small
``<style>`` block that colours the SVG's nodes by id, so a running dispatch
costs a few hundred bytes per update, at most one update every ``interval``
seconds (0.1 s) however fast events arrive. Events come from the one shared
:class:`~covalent_nb.notebook.live.EventStream` of the kernel; a finished
dispatch's widget makes no connection at all.

Shown while its dispatch runs, the widget's output carries a display id:
when the dispatch ends, that output is updated once, so a notebook saved
afterwards keeps the final picture and summary for viewers without widgets.
"""

from __future__ import annotations

import asyncio
import html
import math
import re
import secrets
import time
from typing import TYPE_CHECKING, Any, Callable, Mapping

import ipywidgets
import traitlets

from .dispatch_state import DispatchState
from .display import mime_bundle_for
from .graph_view import draw_graph, status_css
from .live import EventStream, stream_for
from .node_details import fetch_output_preview, node_details_html
from .node_kinds import display_status
from .static_view import node_table_html, static_html, summary_html, summary_text
from .ui_links import ui_link_html

if TYPE_CHECKING:
    from covalent_nb.client.http import DispatcherConnection

__all__ = ["DispatchWidget", "RefreshThrottle", "mime_bundle_for", "show_dispatch"]

REFRESH_INTERVAL = 0.1
"""Seconds between two visible refreshes of a live widget, at least."""

OPTIONS_INTERVAL = 1.0
"""Seconds between two rewrites of the node selector's labels while running (they can be long)."""

_NO_NODE = "— choose a node for its details —"
_NO_NODE_VALUE = -1  # the selector's value for _NO_NODE (a Dropdown shows None as an empty box)
_SVG_SIZE = re.compile(r'<svg ([^>]*?)width="[\d.]+pt" height="[\d.]+pt"')


class RefreshThrottle:
    """Runs ``action`` at once if it has not run for ``interval`` seconds, else once when it has.

    With a running asyncio loop the deferred run is a ``loop.call_later``
    timer; without one (plain scripts, unit tests) it waits for the next
    request after the interval, or for :meth:`flush`.
    """

    def __init__(self, action: Callable[[], None], interval: float = REFRESH_INTERVAL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.action = action
        self.interval = interval
        self.clock = clock
        self.pending = False
        self._last = -math.inf
        self._timer: asyncio.TimerHandle | None = None

    def request(self) -> None:
        """Ask for a run: now, or when the interval since the last one is over."""
        self.pending = True
        if self._timer is not None:
            return
        wait = self._last + self.interval - self.clock()
        if wait <= 0:
            self._fire()
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._timer = loop.call_later(wait, self._fire)

    def flush(self) -> None:
        """Run now if a run is pending (and cancel the timer)."""
        self.cancel()
        if self.pending:
            self._fire()

    def cancel(self) -> None:
        """Drop the deferred run's timer (the request stays pending)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _fire(self) -> None:
        self._timer = None
        self.pending = False
        self._last = self.clock()
        self.action()


class DispatchWidget(ipywidgets.VBox):
    """A dispatch's header, transport graph coloured by status, and per-node details.

    ``view`` is the dispatch as ``GET dispatches/{id}`` returns it. With
    ``live=True`` and a dispatch that is not finished, the widget follows the
    dispatch through ``stream`` (default: the kernel's shared stream for
    ``connection``); this needs a running asyncio loop, as in a Jupyter kernel.
    ``clock`` and ``interval`` set the refresh throttle (tests). ``text_plain``
    replaces the summary as the ``text/plain`` of its display.
    """

    dispatch_id = traitlets.Unicode(help="The dispatch shown.")
    status = traitlets.Unicode(help="The dispatch's status, as last refreshed.")
    counts = traitlets.Dict(help="done/failed/running/pending/cancelled/total over the user's tasks.")
    node_statuses = traitlets.Dict(help="str(node id) -> status, as last refreshed.")
    style_updates = traitlets.Int(0, help="How many times the colouring <style> block was rewritten.")
    svg_renders = traitlets.Int(0, help="How many times the graph's SVG was produced (once).")
    refreshes = traitlets.Int(0, help="How many visible refreshes happened.")
    events_applied = traitlets.Int(0, help="How many pushed events changed what the widget knows.")
    selected_node = traitlets.Int(None, allow_none=True, help="The node whose details are shown.")
    live = traitlets.Bool(False, help="True while following the dispatch's events.")
    zoom = traitlets.Float(1.0, help="Graph width relative to its natural size (0 = fit the width).")

    def __init__(self, view: Mapping[str, Any], *, connection: "DispatcherConnection | None" = None,
                 live: bool = True, stream: EventStream | None = None,
                 clock: Callable[[], float] = time.monotonic, interval: float = REFRESH_INTERVAL,
                 text_plain: str | None = None) -> None:
        super().__init__()
        self.add_class("cnb-dispatch")  # a handle for pages and browser tests
        self.dispatch_id = view["id"]
        self._connection = connection
        self._dispatch_view: dict[str, Any] = dict(view)
        self._dispatch_state = DispatchState(view)
        self._dom_prefix = f"cnb-{view['id'][:8]}-{secrets.token_hex(3)}"
        self._clock = clock
        self._throttle = RefreshThrottle(self._refresh, interval, clock)
        self._note: str | None = None
        self._stream: EventStream | None = None
        self._previews: dict[int, str] = {}
        self._details_shown: tuple[int, str] | None = None
        self._options_at = -math.inf
        self._updating_options = False
        self._text_plain = text_plain
        self._display_handles: list[Any] = []
        self._page_link = "" if connection is None else (  # the dispatch's page in the web UI
            '<div style="font-size:85%">' + ui_link_html(connection.url, view["id"], "dispatch page ↗",
                                                         self._dispatch_state.name) + "</div>")
        self._build_children()
        self._refresh(all_parts=True)
        if live and not self._dispatch_state.terminal:
            self._follow(stream)

    # ---- building ------------------------------------------------------------------------

    def _build_children(self) -> None:
        self._picture = draw_graph(self._dispatch_view, self._dom_prefix, self._dispatch_state.node_statuses)
        self._header = ipywidgets.HTML()
        self._style_block = ipywidgets.HTML(layout=ipywidgets.Layout(height="0px", margin="0"))
        self._graph = ipywidgets.HTML()
        self._details = ipywidgets.HTML()
        graph_box = ipywidgets.Box([self._graph], layout=ipywidgets.Layout(
            max_height="520px", overflow="auto", border="1px solid #ddd", display="block"))
        self._selector = ipywidgets.Dropdown(options=[(_NO_NODE, _NO_NODE_VALUE)], value=_NO_NODE_VALUE,
                                             description="node", layout=ipywidgets.Layout(width="480px"))
        self._selector.observe(self._on_selector, "value")
        tools: list[ipywidgets.Widget] = []
        if self._picture.svg is not None:
            self.svg_renders += 1
            self._graph.value = _scalable_svg(self._picture.svg)
            tools = [self._zoom_button("−", 1 / 1.25), self._zoom_button("+", 1.25),
                     self._zoom_button("fit", 0.0), self._zoom_button("1:1", None)]
            self._apply_zoom()
        self.children = [self._header, self._style_block,
                         ipywidgets.HBox(tools), graph_box, self._selector, self._details]

    def _zoom_button(self, label: str, factor: float | None) -> ipywidgets.Button:
        button = ipywidgets.Button(description=label, layout=ipywidgets.Layout(width="44px"),
                                   tooltip={"−": "smaller", "+": "larger", "fit": "fit the width",
                                            "1:1": "natural size"}[label])

        def click(_button: ipywidgets.Button) -> None:
            if factor is None:
                self.zoom = 1.0
            elif factor == 0.0:
                self.zoom = 0.0
            else:
                self.zoom = max(0.1, min(8.0, (self.zoom or 1.0) * factor))
        button.on_click(click)
        return button

    @traitlets.observe("zoom")
    def _apply_zoom(self, _change: Any = None) -> None:
        if self._picture.svg is None:
            return
        natural = self._picture.width_px or 400.0
        self._graph.layout.width = "100%" if self.zoom == 0 else f"{natural * self.zoom:.0f}px"

    # ---- refreshing ----------------------------------------------------------------------

    def flush(self) -> None:
        """Bring every visible part up to date now (the throttle's pending refresh, if any, included)."""
        self._throttle.cancel()
        self._throttle.pending = False
        self._refresh(all_parts=True)

    def _refresh(self, all_parts: bool = False) -> None:
        state = self._dispatch_state
        with self.hold_trait_notifications():
            self.status = state.status
            self.counts = state.counts()
            self.node_statuses = {str(k): v for k, v in state.node_statuses.items()}
        self._header.value = summary_html(state, self._note) + self._page_link
        if self._picture.svg is not None:
            css = status_css(self._picture, self._dom_prefix, state.node_statuses)
            if css != self._style_block.value:
                self._style_block.value = css
                self.style_updates += 1
        else:
            self._graph.value = (f'<p style="color:#a15c00">{html.escape(self._picture.message or "")}</p>'
                                 f"{node_table_html(state)}")
        if all_parts or state.terminal or self._clock() - self._options_at >= OPTIONS_INTERVAL:
            self._refresh_options()
        if self.selected_node is not None and self._details_shown != (
                self.selected_node, state.node_statuses.get(self.selected_node)):
            self._render_details()
        self.refreshes += 1

    def _refresh_options(self) -> None:
        state = self._dispatch_state
        options = [(_NO_NODE, _NO_NODE_VALUE)] + [
            (f"{state.labels[i]} ({i}) — {display_status(state.node_statuses[i])}", i)
            for i in sorted(state.node_statuses) if state.kinds[i] != "parameter"]
        self._options_at = self._clock()
        if list(self._selector.options) == options:
            return
        self._updating_options = True
        try:
            with self._selector.hold_sync():
                self._selector.options = options
                self._selector.value = self._listed(self.selected_node)
        finally:
            self._updating_options = False

    # ---- node details --------------------------------------------------------------------

    def _listed(self, node_id: int | None) -> int:
        """The selector's value for ``node_id``: the node if it is listed, else the "choose" entry."""
        return node_id if node_id in {value for _label, value in self._selector.options} else _NO_NODE_VALUE

    def _on_selector(self, change: Mapping[str, Any]) -> None:
        if not self._updating_options:
            self.selected_node = None if change["new"] == _NO_NODE_VALUE else change["new"]

    @traitlets.observe("selected_node")
    def _on_selected(self, change: Mapping[str, Any]) -> None:
        listed = self._listed(change["new"])
        if self._selector.value != listed:
            self._updating_options = True
            try:
                self._selector.value = listed
            finally:
                self._updating_options = False
        self._render_details()

    def _render_details(self) -> None:
        node_id = self.selected_node
        state = self._dispatch_state
        if node_id is None or node_id not in state.node_statuses:
            self._details.value = ""
            self._details_shown = None
            return
        status = state.node_statuses[node_id]
        record = next(n for n in self._dispatch_view["nodes"] if n["node_id"] == node_id)
        if record["status"] != status:
            self._reread_view()
        preview = None
        if status == "COMPLETED":
            if node_id not in self._previews:
                self._previews[node_id] = fetch_output_preview(self._dispatch_view, self._connection, node_id)
            preview = self._previews[node_id]
        self._details.value = node_details_html(self._dispatch_view, node_id, state.node_statuses, preview)
        self._details_shown = (node_id, status)

    def _reread_view(self) -> None:
        if self._connection is None:
            return
        try:
            view = self._connection.get_json(f"dispatches/{self.dispatch_id}")
        except Exception as exc:  # the details then show what is known
            self._note = f"could not re-read the dispatch: {exc}"
            return
        self._take_view(view)

    def _take_view(self, view: dict[str, Any]) -> None:
        self._dispatch_view = view
        self._dispatch_state.merge_view(view)

    # ---- live updates (EventListener) ------------------------------------------------------

    def _follow(self, stream: EventStream | None) -> None:
        if stream is None:
            if self._connection is None:
                return
            stream = stream_for(self._connection.url, self._connection.token)
        try:
            stream.register(self)
        except RuntimeError:
            self._note = "not updating live: that needs a running event loop, as in a Jupyter kernel"
            self._refresh()
            return
        self._stream = stream
        self.live = True

    def _stop_following(self) -> None:
        if self._stream is not None:
            self._stream.unregister(self)
            self._stream = None
        self.live = False

    def on_event(self, event: dict[str, Any]) -> None:
        """Apply one of this dispatch's events; the visible parts follow within ``interval``."""
        if not self._dispatch_state.apply_event(event):
            return
        self.events_applied += 1
        if self._dispatch_state.terminal:
            self._finish()
        else:
            self._throttle.request()

    def on_stream_open(self) -> None:
        """The event connection (re)opened: re-read the dispatch once, in a worker thread."""
        if self._connection is None:
            return
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(None, self._connection.get_json, f"dispatches/{self.dispatch_id}")
        future.add_done_callback(self._on_reread)

    def _on_reread(self, future: "asyncio.Future[Any]") -> None:
        if future.cancelled() or self._stream is None:
            return
        if future.exception() is not None:
            self._note = f"could not re-read the dispatch: {future.exception()}"
            self._throttle.request()
            return
        self._take_view(future.result())
        if self._dispatch_state.terminal:
            self._finish()
        else:
            self._throttle.request()

    def on_stream_lost(self, reason: str) -> None:
        """The shared stream gave up: say so, and how to see the current state."""
        self._stream = None
        self.live = False
        self._note = f"live updates stopped ({reason}); %covalent show {self.dispatch_id} shows the current state"
        self.flush()

    def _finish(self) -> None:
        self._stop_following()
        self.flush()
        self._update_displays()

    def _update_displays(self) -> None:
        """Give the outputs showing this widget the final fallback (picture, summary) of the dispatch."""
        handles, self._display_handles = self._display_handles, []
        bundle = self._repr_mimebundle_()
        for handle in handles:
            handle.update(bundle, raw=True)

    def close(self) -> None:
        """Stop following the dispatch and close the widget and its parts."""
        self._stop_following()
        self._throttle.cancel()
        parts = list(self.children)
        while parts:
            part = parts.pop()
            parts.extend(getattr(part, "children", ()))
            part.close()
        super().close()

    def __repr__(self) -> str:
        return f"<DispatchWidget {self._dispatch_state.name} {self.dispatch_id} {self.status}>"

    # ---- display -------------------------------------------------------------------------

    def _ipython_display_(self) -> None:
        """Show the widget in IPython; while it follows its dispatch, under a display id (see the module)."""
        from IPython.display import display

        bundle = self._repr_mimebundle_()
        if bundle is None:
            display(repr(self))
        elif self.live:
            self._display_handles.append(display(bundle, raw=True, display_id=True))
        else:
            display(bundle, raw=True)

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any] | None:
        bundle = super()._repr_mimebundle_(**kwargs)
        if bundle is None:
            return None
        bundle["text/plain"] = self._text_plain or summary_text(self._dispatch_state)
        bundle["text/html"] = static_html(self._dispatch_view, self._dispatch_state)
        return bundle


def _scalable_svg(svg: str) -> str:
    """The SVG filling its container's width (the zoom sets that width), height from its viewBox."""
    svg = _SVG_SIZE.sub(r'<svg \1width="100%"', svg, count=1)
    return svg.replace("<svg ", '<svg class="cnb-graph" style="height:auto" ', 1)


def show_dispatch(dispatch_id: str, dispatcher_addr: str | None = None) -> DispatchWidget:
    """The widget for any dispatch (of this session or an earlier one); live while it runs."""
    from covalent_nb.client.connect import connection

    conn = connection(dispatcher_addr)
    return DispatchWidget(conn.get_json(f"dispatches/{dispatch_id}"), connection=conn)
