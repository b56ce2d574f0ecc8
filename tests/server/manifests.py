"""Manifests made by hand for the server's tests: a small valid one to spoil, and big ones.

Tasks call builtins (``abs``, ``max``), which a Dask worker unpickles by
reference whatever its working directory. The lattice payload is any bytes:
the server stores it and never reads it.
"""

from __future__ import annotations

import base64
import copy
import http.client
import json
from typing import Any

from covalent_nb._serialize import blob_key, dumps

from tests.conftest import RunningServer

__all__ = ["payload", "small_manifest", "big_manifest", "upload", "raw_request"]


def payload(value: Any) -> tuple[str, bytes]:
    """``(key, bytes)`` of a value pickled as the client pickles it."""
    data = dumps(value)
    return blob_key(data), data


_FUNCTION = payload(abs)
_VALUE = payload(-3)
_LATTICE = (blob_key(b"a lattice"), b"a lattice")
_SMALL = {
    "format": 1,
    "name": "hostile",
    "lattice": {"blob": _LATTICE[0], "source": "def hostile(x): ...", "doc": "", "executor": None,
                "workflow_executor": None},
    "inputs": {"args": [_VALUE[0]], "kwargs": {}, "repr": {"args": ["-3"], "kwargs": {}}},
    "nodes": [
        {"id": 0, "name": ":parameter:-3", "kind": "parameter", "function": None, "function_name": None,
         "value": _VALUE[0], "executor": None, "hooks": None, "options": {"retries": 0, "time_limit": None},
         "fingerprint": "0" * 64},
        {"id": 1, "name": "absolute", "kind": "electron", "function": _FUNCTION[0], "function_name": "abs",
         "value": None, "executor": None, "hooks": None, "options": {"retries": 0, "time_limit": None},
         "fingerprint": "1" * 64},
    ],
    "edges": [{"source": 0, "target": 1, "param": {"kind": "arg", "index": 0}}],
    "output": 1,
    "blobs": {key: base64.b64encode(data).decode() for key, data in (_FUNCTION, _VALUE, _LATTICE)},
}


def small_manifest() -> dict[str, Any]:
    """A valid manifest (a fresh copy): node 1 is ``abs(-3)``; its payloads inline."""
    return copy.deepcopy(_SMALL)


def big_manifest(parameters: int, tasks: int, fan_in: int) -> tuple[dict[str, Any], list[tuple[str, bytes]]]:
    """A manifest of ``parameters`` parameter nodes and ``tasks`` electrons, each ``max`` of ``fan_in`` parameters.

    Returns it with the few payloads it names (upload them first: it sends none inline).
    The output is the last task; every task's output is 3.
    """
    function, value = payload(max), payload(3)
    nodes: list[dict[str, Any]] = []
    edges: list[dict[str, Any]] = []
    for nid in range(parameters):
        nodes.append({"id": nid, "name": f":parameter:{nid}", "kind": "parameter", "function": None,
                      "function_name": None, "value": value[0], "executor": None, "hooks": None,
                      "options": {"retries": 0, "time_limit": None}, "fingerprint": f"{nid:064x}"})
    for task in range(tasks):
        nid = parameters + task
        nodes.append({"id": nid, "name": "biggest", "kind": "electron", "function": function[0],
                      "function_name": "max", "value": None, "executor": None, "hooks": None,
                      "options": {"retries": 0, "time_limit": None}, "fingerprint": f"{nid:064x}"})
        for index in range(fan_in):
            source = (task * fan_in + index) % parameters
            edges.append({"source": source, "target": nid, "param": {"kind": "arg", "index": index}})
    manifest = {
        "format": 1, "name": "big",
        "lattice": {"blob": _LATTICE[0], "source": "", "doc": "", "executor": None, "workflow_executor": None},
        "inputs": {"args": [], "kwargs": {}, "repr": {"args": [], "kwargs": {}}},
        "nodes": nodes, "edges": edges, "output": parameters + tasks - 1,
    }
    return manifest, [function, value, _LATTICE]


def raw_request(server: RunningServer, method: str, path: str, body: bytes | None = None,
                timeout: float = 60, headers: dict[str, str] | None = None, parse: bool = True) -> tuple[int, Any]:
    """One request on a new connection, the path sent exactly as given (no quoting).

    Returns ``(status, JSON body)``; a body that is not JSON (or any body, when
    not ``parse``) comes back as the raw bytes.
    """
    conn = http.client.HTTPConnection(server.address, server.port, timeout=timeout)
    try:
        conn.request(method, f"/api/v1/{path}", body=body,
                     headers={"Authorization": f"token {server.token}", **(headers or {})})
        response = conn.getresponse()
        data = response.read()
    finally:
        conn.close()
    if not parse:
        return response.status, data
    try:
        return response.status, json.loads(data or b"null")
    except ValueError:
        return response.status, data


def upload(server: RunningServer, payloads: list[tuple[str, bytes]]) -> None:
    """Upload payloads (``PUT blobs/{key}``)."""
    for key, data in payloads:
        status, body = raw_request(server, "PUT", f"blobs/{key}", data)
        assert status == 201, body
