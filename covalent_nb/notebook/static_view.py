"""HTML for a dispatch without a live kernel: summary, graph picture with statuses baked in, node table.

This is the ``text/html`` part of a result's mime bundle, what nbconvert,
GitHub and other viewers without widgets show. The widget reuses the
summary and the table.
"""

from __future__ import annotations

import datetime as _dt
import html
import secrets
from typing import Any, Mapping

from .dispatch_state import DispatchState
from .graph_view import STATUS_COLOURS, draw_graph
from .node_kinds import display_status

__all__ = ["format_duration", "format_time", "node_table_html", "static_html", "status_badge",
           "summary_html", "summary_text"]

MAX_TABLE_ROWS = 500
"""Rows shown in a node table; the rest are counted."""


def format_time(ts: float | None) -> str:
    """A timestamp as local date and time, or an em dash."""
    if ts is None:
        return "—"
    return _dt.datetime.fromtimestamp(ts).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


def format_duration(start: float | None, end: float | None) -> str:
    """``end - start`` as ``1.234 s`` / ``2 min 03 s`` / ``1 h 02 min``, or an em dash."""
    if start is None or end is None:
        return "—"
    seconds = max(0.0, end - start)
    if seconds < 60:
        return f"{seconds:.3f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"


def status_badge(status: str) -> str:
    """A coloured pill saying the status (``pending`` for NEW_OBJECT); ``data-status`` keeps its name."""
    colour = STATUS_COLOURS.get(status, STATUS_COLOURS["NEW_OBJECT"])
    return (f'<span class="cnb-status" data-status="{html.escape(status)}" style="background:{colour};color:#111;'
            f'border-radius:8px;padding:1px 8px;font-weight:600;font-size:90%">'
            f'{html.escape(display_status(status))}</span>')


def _progress_text(counts: Mapping[str, int]) -> str:
    text = (f"done {counts['done']} / failed {counts['failed']} / running {counts['running']} / "
            f"pending {counts['pending']} of {counts['total']}")
    return text + (f" (cancelled {counts['cancelled']})" if counts.get("cancelled") else "")


def summary_html(state: DispatchState, note: str | None = None) -> str:
    """The header: status, lattice name and progress; dispatch id, times and duration below."""
    duration = format_duration(state.start_time, state.end_time) if state.terminal else (
        "running" if state.start_time else "not started")
    details = " · ".join([f"dispatch <code>{html.escape(state.dispatch_id)}</code>",
                          f"started {format_time(state.start_time)}", f"ended {format_time(state.end_time)}",
                          f"duration {duration}"])
    extra = f'<div style="color:#a15c00">{html.escape(note)}</div>' if note else ""
    return (f'<div class="cnb-summary" style="line-height:1.5"><div>{status_badge(state.status)} '
            f'<b>{html.escape(state.name)}</b> <span style="margin-left:8px">tasks: '
            f'{_progress_text(state.counts())}</span></div>'
            f'<div style="color:#666;font-size:85%">{details}</div>{extra}</div>')


def summary_text(state: DispatchState) -> str:
    """The header as plain text (the ``text/plain`` of a bundle)."""
    return (f"{state.name} {state.dispatch_id}: {display_status(state.status)}, "
            f"tasks {_progress_text(state.counts())}, "
            f"started {format_time(state.start_time)}, ended {format_time(state.end_time)}")


def node_table_html(state: DispatchState, max_rows: int = MAX_TABLE_ROWS) -> str:
    """A table of the non-parameter nodes: id, name, kind, status, start, end, duration.

    Names and kinds are what :mod:`~.node_kinds` calls them (``[0]``, ``getitem``, ...).
    """
    rows = []
    node_ids = [i for i in sorted(state.node_statuses) if state.kinds[i] != "parameter"]
    for node_id in node_ids[:max_rows]:
        start, end = state.node_times[node_id]
        status = state.node_statuses[node_id]
        rows.append(f"<tr><td>{node_id}</td><td>{html.escape(state.labels[node_id])}</td>"
                    f"<td>{html.escape(state.roles[node_id])}</td><td>{status_badge(status)}</td>"
                    f"<td>{format_time(start)}</td><td>{format_time(end)}</td>"
                    f"<td>{format_duration(start, end)}</td></tr>")
    more = len(node_ids) - max_rows
    tail = f'<tr><td colspan="7">… and {more} more</td></tr>' if more > 0 else ""
    head = "".join(f'<th style="text-align:left">{h}</th>'
                   for h in ("id", "name", "kind", "status", "started", "ended", "duration"))
    return (f'<table class="cnb-nodes" style="font-size:85%;line-height:1.45"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}{tail}</tbody></table>")


def static_html(view: Mapping[str, Any], state: DispatchState | None = None) -> str:
    """Summary, the graph as SVG coloured by status, and the node table, in one HTML fragment.

    ``view`` is a dispatch view (``GET dispatches/{id}``); ``state`` (optional)
    carries newer statuses than the view.
    """
    state = state or DispatchState(view)
    prefix = f"cnb-{state.dispatch_id[:8]}-s{secrets.token_hex(3)}"
    picture = draw_graph(view, prefix, state.node_statuses)
    if picture.svg is not None:
        svg = picture.svg.replace("<svg ", '<svg style="max-width:100%;height:auto" ', 1)
        graph = f'<div style="max-height:600px;overflow:auto;margin:6px 0">{svg}</div>'
        table = f"<details><summary>tasks</summary>{node_table_html(state)}</details>"
    else:
        graph = f'<p style="color:#a15c00">{html.escape(picture.message or "")}</p>'
        table = node_table_html(state)
    return f'<div class="cnb-dispatch" style="line-height:1.45">{summary_html(state)}{graph}{table}</div>'
