"""``Result``: what a dispatch produced, read from the dispatcher on the client side."""

from __future__ import annotations

import base64
import datetime as _dt
import json
from typing import TYPE_CHECKING, Any

from covalent_nb._frames import unpack
from covalent_nb._serialize import loads
from covalent_nb._status import Status
from covalent_nb._suggest import listing

if TYPE_CHECKING:
    from covalent_nb.client.http import DispatcherConnection

__all__ = ["Result"]

_MISSING = object()
BATCH_KEYS = 1000
"""Payload keys asked for in one request by :meth:`Result._prefetch` (the server's limit)."""


def _when(ts: float | None) -> _dt.datetime | None:
    return None if ts is None else _dt.datetime.fromtimestamp(ts, tz=_dt.timezone.utc)


class Result:
    """The state of one dispatch: its status, output, error, inputs and every task.

    Payloads (outputs, inputs, the lattice) are fetched and unpickled lazily,
    on this client, the first time they are read.
    """

    def __init__(self, view: dict[str, Any], connection: "DispatcherConnection") -> None:
        self._view = view
        self._conn = connection
        self._payloads: dict[str, Any] = {}
        for key, b64 in view.get("blobs", {}).items():
            self._payloads[key] = loads(base64.b64decode(b64))

    # ---- payloads ------------------------------------------------------------

    def _payload(self, key: str | None) -> Any:
        if key is None:
            return None
        value = self._payloads.get(key, _MISSING)
        if value is _MISSING:
            data = self._conn.request("GET", f"dispatches/{self.dispatch_id}/blobs/{key}")
            value = self._payloads[key] = loads(data)
        return value

    def _prefetch(self, keys: list[str | None]) -> None:
        """Fetch the payloads of ``keys`` not read yet in as few requests as the server allows;
        the ones it leaves out (too large for one answer) are read one by one when used."""
        missing = list(dict.fromkeys(k for k in keys if k is not None and k not in self._payloads))
        for start in range(0, len(missing), BATCH_KEYS):
            body = json.dumps({"keys": missing[start:start + BATCH_KEYS]}).encode()
            frame = self._conn.request("POST", f"dispatches/{self.dispatch_id}/payloads", body,
                                       {"Content-Type": "application/json"})
            meta, blobs = unpack(frame)
            for key in meta["keys"]:
                self._payloads[key] = loads(blobs[key])

    def _completed_output_keys(self) -> list[str | None]:
        return [n["output_key"] for n in self._view["nodes"] if n["status"] == Status.COMPLETED.value]

    # ---- Covalent's attributes -------------------------------------------------

    @property
    def dispatch_id(self) -> str:
        """The dispatch's id."""
        return self._view["id"]

    @property
    def status(self) -> Status:
        """The dispatch's status."""
        return Status(self._view["status"])

    @property
    def result(self) -> Any:
        """The workflow's output (None unless COMPLETED)."""
        return self._payload(self._view["output_key"]) if self.status == Status.COMPLETED else None

    @property
    def error(self) -> str | None:
        """Why the dispatch failed or was cancelled (names the failed tasks)."""
        return self._view["error"]

    @property
    def inputs(self) -> dict[str, Any]:
        """The lattice's inputs: ``{"args": [...], "kwargs": {...}}``."""
        return {"args": list(self.input_args), "kwargs": self.input_kwargs}

    @property
    def input_args(self) -> tuple[Any, ...]:
        """The lattice's positional arguments."""
        return tuple(self._payload(key) for key in self._view["inputs"]["args"])

    @property
    def input_kwargs(self) -> dict[str, Any]:
        """The lattice's keyword arguments."""
        return {name: self._payload(key) for name, key in self._view["inputs"]["kwargs"].items()}

    @property
    def lattice(self) -> Any:
        """The dispatched lattice, rebuilt on this client."""
        return self._payload(self._view["lattice"]["blob"])

    @property
    def lattice_source(self) -> str:
        """The source code of the lattice's function, as stored at dispatch time."""
        return self._view["lattice"].get("source", "")

    @property
    def start_time(self) -> _dt.datetime | None:
        """When the dispatch started running (UTC)."""
        return _when(self._view["start_time"])

    @property
    def end_time(self) -> _dt.datetime | None:
        """When the dispatch ended (UTC)."""
        return _when(self._view["end_time"])

    @property
    def name(self) -> str:
        """The lattice's name."""
        return self._view["name"]

    @property
    def progress(self) -> dict[str, int]:
        """Task counts by status."""
        return dict(self._view["progress"])

    @property
    def edges(self) -> list[dict[str, Any]]:
        """The transport graph's edges as the dispatcher stores them."""
        return list(self._view["edges"])

    # ---- tasks -----------------------------------------------------------------

    def _node_dict(self, node: dict[str, Any]) -> dict[str, Any]:
        status = Status(node["status"])
        error = node["error"]
        if error and node.get("traceback"):
            error = node["traceback"]
        sub_id = node.get("sub_dispatch_id")
        return {
            "node_id": node["node_id"], "node_name": node["name"], "kind": node["kind"],
            "status": status, "start_time": _when(node["start_time"]), "end_time": _when(node["end_time"]),
            "output": self._payload(node["output_key"]) if status == Status.COMPLETED else None,
            "error": error, "stdout": node["stdout"] or "", "stderr": node["stderr"] or "",
            "executor": node["executor"],
            "sublattice_result": _SubResult(sub_id, self._conn) if sub_id else None,
        }

    def get_node_result(self, node_id: int) -> dict[str, Any]:
        """One task's record (see :meth:`get_all_node_results`)."""
        for node in self._view["nodes"]:
            if node["node_id"] == node_id:
                return self._node_dict(node)
        nodes = listing(f"{node['node_id']} ({node['name']})" for node in self._view["nodes"])
        raise KeyError(f"dispatch {self.dispatch_id} has no node {node_id!r}; its nodes are: {nodes}")

    def get_all_node_results(self) -> list[dict[str, Any]]:
        """Every task: node_id, node_name, status, start_time, end_time, output (the value
        itself), error (with traceback), stdout, stderr, sublattice_result."""
        self._prefetch(self._completed_output_keys())
        return [self._node_dict(node) for node in self._view["nodes"]]

    def get_all_node_outputs(self) -> dict[str, Any]:
        """Outputs of completed tasks as ``{"name(id)": value}``."""
        self._prefetch(self._completed_output_keys())
        return {f"{n['name']}({n['node_id']})": self._payload(n["output_key"])
                for n in self._view["nodes"] if n["status"] == Status.COMPLETED.value}

    def __str__(self) -> str:
        lines = [f"Result of {self.name} ({self.dispatch_id})", f"  status: {self.status.value}"]
        if self.start_time:
            end = self.end_time or _dt.datetime.now(_dt.timezone.utc)
            lines.append(f"  started: {self.start_time:%Y-%m-%d %H:%M:%S} UTC, "
                         f"took {(end - self.start_time).total_seconds():.3f} s")
        if self.status == Status.COMPLETED:
            lines.append(f"  result: {self.result!r}"[:2000])
        if self.error:
            lines.append(f"  error: {self.error}")
        lines.append("  tasks:")
        for node in self._view["nodes"]:
            if node["kind"] == "parameter":
                continue
            lines.append(f"    {node['node_id']:>4} {node['name']:<24} {node['status']}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<Result {self.name} {self.dispatch_id} {self.status.value}>"

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        """In a Jupyter kernel with ipywidgets: the dispatch widget (with an HTML fallback);
        elsewhere the summary, graph picture and task table as HTML; and the repr as text."""
        from covalent_nb.notebook.display import bundle_for_view

        bundle = bundle_for_view(self._view, self._conn, text_plain=repr(self))
        if include:
            bundle = {k: v for k, v in bundle.items() if k in include}
        if exclude:
            bundle = {k: v for k, v in bundle.items() if k not in exclude}
        return bundle


class _SubResult:
    """A sublattice's Result, fetched when first used."""

    def __init__(self, dispatch_id: str, connection: "DispatcherConnection") -> None:
        self.dispatch_id = dispatch_id
        self._conn = connection
        self._result: Result | None = None

    def __getattr__(self, name: str) -> Any:
        if self._result is None:
            self._result = Result(self._conn.get_json(f"dispatches/{self.dispatch_id}?inline_output=1"), self._conn)
        return getattr(self._result, name)

    def __repr__(self) -> str:
        return f"<sublattice Result {self.dispatch_id}>"
