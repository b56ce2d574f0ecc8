"""The details pane of one node: status, executor, times, inputs, output preview, stdout, stderr, error."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any, Mapping

from .node_kinds import describe_nodes
from .static_view import format_duration, format_time, status_badge

if TYPE_CHECKING:
    from covalent_nb.client.http import DispatcherConnection

__all__ = ["STREAM_CHARS", "fetch_output_preview", "node_details_html"]

STREAM_CHARS = 20000
"""Characters of a task's stdout and stderr the details show (outputs come cut already: see _preview)."""

_PRE = ('<pre style="max-height:240px;overflow:auto;background:rgba(127,127,127,0.08);'
        'padding:4px;margin:2px 0;white-space:pre-wrap">')


def _pre(text: str) -> str:
    return f"{_PRE}{html.escape(text)}</pre>"


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f"… ({len(text) - limit} more characters)"


def fetch_output_preview(view: Mapping[str, Any], connection: "DispatcherConnection | None",
                         node_id: int) -> str:
    """The text preview of a completed node's output, as the dispatcher keeps it.

    The task runner made it (a truncated repr) where the output was in memory;
    it comes from ``GET dispatches/{id}/nodes/{node_id}``: the output itself is
    neither fetched nor unpickled.
    """
    node = next(n for n in view["nodes"] if n["node_id"] == node_id)
    if node["status"] != "COMPLETED":
        return "(no output: the task has not completed)"
    if connection is None:
        return "(no preview: no dispatcher connection)"
    try:
        preview = connection.get_json(f"dispatches/{view['id']}/nodes/{node_id}")["node"].get("preview")
    except Exception as exc:  # the dispatcher gone, the dispatch deleted...
        return f"(could not read the output's preview: {type(exc).__name__}: {exc})"
    if preview is None:
        return "(no preview: the output was stored by an older version of covalent-nb)"
    return preview


def _executor_text(spec: Any) -> str:
    if not spec:
        return "the dispatch's default"
    attrs = spec.get("attrs") or {}
    shown = ", ".join(f"{k}={v!r}" for k, v in list(attrs.items())[:6])
    return spec.get("name", "?") + (f" ({shown})" if shown else "")


def _param_label(param: Mapping[str, Any] | None) -> str:
    kind = (param or {}).get("kind")
    if kind == "arg":
        return f"arg {param['index']}"
    if kind == "kwarg":
        return f"{param['name']}="
    return "wait for" if kind == "wait" else "?"


def _param_order(param: Mapping[str, Any] | None) -> tuple:
    kind = (param or {}).get("kind")
    if kind == "arg":
        return (0, param["index"], "")
    return (1, 0, str(param["name"])) if kind == "kwarg" else (2, 0, "")


def _inputs_html(view: Mapping[str, Any], node_id: int, statuses: Mapping[int, str],
                 labels: Mapping[int, str]) -> str:
    nodes = {n["node_id"]: n for n in view["nodes"]}
    edges = sorted((e for e in view["edges"] if e["target"] == node_id),
                   key=lambda e: _param_order(e.get("param")))
    if not edges:
        return "<i>none</i>"
    rows = []
    for edge in edges:
        parent = nodes.get(edge["source"], {"name": "?", "kind": "?"})
        if parent["kind"] == "parameter":
            source = f"value <code>{html.escape(parent['name'].removeprefix(':parameter:'))}</code>"
        else:
            status = statuses.get(edge["source"], parent.get("status", ""))
            source = (f"output of {html.escape(labels.get(edge['source'], parent['name']))} ({edge['source']}) "
                      f"{status_badge(status)}")
        rows.append(f"<tr><td style='text-align:left'><code>{html.escape(_param_label(edge.get('param')))}"
                    f"</code></td><td style='text-align:left'>{source}</td></tr>")
    return f"<table style='font-size:90%'>{''.join(rows)}</table>"


def node_details_html(view: Mapping[str, Any], node_id: int, statuses: Mapping[int, str],
                      output_preview: str | None = None) -> str:
    """The details of one node of ``view``; ``statuses`` may be newer than the view's records."""
    node = next(n for n in view["nodes"] if n["node_id"] == node_id)
    status = statuses.get(node_id, node["status"])
    start, end = node.get("start_time"), node.get("end_time")
    described = describe_nodes(view)
    labels = {i: d.label for i, d in described.items()}
    look = described[node_id]
    parts = [f"<div><b>{html.escape(look.label)}</b> (node {node_id}, {html.escape(look.role)}) "
             f"{status_badge(status)}</div>",
             "<table style='font-size:90%'>"
             f"<tr><td style='text-align:left'>executor</td><td style='text-align:left'>"
             f"{html.escape(_executor_text(node.get('executor')))}</td></tr>"
             f"<tr><td style='text-align:left'>started</td><td style='text-align:left'>{format_time(start)}</td></tr>"
             f"<tr><td style='text-align:left'>ended</td><td style='text-align:left'>{format_time(end)}</td></tr>"
             f"<tr><td style='text-align:left'>duration</td><td style='text-align:left'>"
             f"{format_duration(start, end)}</td></tr></table>",
             f"<div><b>inputs</b></div>{_inputs_html(view, node_id, statuses, labels)}"]
    if node.get("sub_dispatch_id"):
        parts.append(f"<div>sublattice dispatch <code>{html.escape(node['sub_dispatch_id'])}</code> "
                     f"(<code>%covalent show {html.escape(node['sub_dispatch_id'])}</code>)</div>")
    if output_preview is not None:
        parts.append(f"<div><b>output</b></div>{_pre(output_preview)}")
    for label, key in (("stdout", "stdout"), ("stderr", "stderr")):
        if node.get(key):
            parts.append(f"<div><b>{label}</b></div>{_pre(_truncate(node[key], STREAM_CHARS))}")
    if node.get("error") or node.get("traceback"):
        parts.append(f"<div style='color:#b71c1c'><b>error</b>: {html.escape(node.get('error') or '')}</div>")
        if node.get("traceback"):
            parts.append(_pre(node["traceback"]))
    return f'<div class="cnb-node-details" style="line-height:1.45">{"".join(parts)}</div>'
