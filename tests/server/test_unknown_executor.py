"""A task naming an executor the server does not offer, on a real server started through the CLI.

The dispatch is accepted; ``ct.dispatch`` warns at once; that task fails when
it would start, naming what the server offers and the close name; its
descendants never run, independent branches do, and the dispatch ends FAILED.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

import covalent_nb as ct
from covalent_nb.executor.registry import known_executors
from covalent_nb.workflow import build_manifest
from tests.server.test_api import call


def offered() -> str:
    """What the server says it offers (it runs in this virtualenv: the same executors are installed)."""
    return ", ".join(["dask"] + sorted(set(known_executors(refresh=True)) - {"dask"}))


def inlined(lattice: Any, *args: Any) -> bytes:
    """The body of ``POST dispatches`` for ``lattice(*args)``, every payload inline."""
    manifest, blobs = build_manifest(lattice, args, {})
    manifest["blobs"] = {key: base64.b64encode(data).decode() for key, data in blobs.items()}
    return json.dumps(manifest).encode()


def nodes_by_name(result: Any) -> dict[str, dict[str, Any]]:
    return {node["node_name"]: node for node in result.get_all_node_results()}


@ct.electron(executor="dask_typo")
def square(x: int) -> int:
    return x * x


@ct.electron
def double(x: int) -> int:
    return 2 * x


@ct.electron
def plus_one(x: int) -> int:
    return x + 1


@ct.lattice
def two_branches(x: int) -> int:
    plus_one(square(x))  # the mistyped branch: square fails, plus_one never runs
    return double(x)  # the independent branch


@ct.lattice
def only_known(x: int) -> int:
    return double(x)


@ct.lattice(executor="lokal")
def all_on_a_typo(x: int) -> int:
    return plus_one(double(x))


def test_dispatch_warns_at_once_then_the_task_fails_and_the_other_branch_completes(server):
    with pytest.warns(UserWarning) as caught:
        dispatch_id = ct.dispatch(two_branches)(3)
    [warning] = [w for w in caught if "dask_typo" in str(w.message)]
    text = str(warning.message)
    assert text.startswith(f"dispatch {dispatch_id}: unknown executor 'dask_typo' on task 'square' (node ")
    assert "did you mean 'dask'?" in text and text.endswith("The dispatch runs; that task fails when it would start.")
    assert warning.filename == __file__  # it points at the line that dispatched

    result = ct.get_result(dispatch_id, wait=True)
    assert result.status == ct.status.FAILED
    nodes = nodes_by_name(result)
    failed = nodes["square"]
    assert failed["status"] == ct.status.FAILED
    assert failed["error"] == (f"unknown executor 'dask_typo' on task 'square' (node {failed['node_id']}); "
                               f"this server offers: {offered()}; did you mean 'dask'?")
    assert nodes["double"]["status"] == ct.status.COMPLETED and nodes["double"]["output"] == 6
    assert nodes["plus_one"]["status"] == ct.status.NEW_OBJECT and nodes["plus_one"]["start_time"] is None
    assert result.error == f"task(s) failed: square (node {failed['node_id']})"


def test_the_api_answer_lists_the_warnings(server):
    status, body = call(server, "POST", "dispatches", inlined(two_branches, 2))
    assert status == 201
    [warning] = body["warnings"]
    manifest = json.loads(inlined(two_branches, 2))
    node_id = next(n["id"] for n in manifest["nodes"] if n["name"] == "square")
    assert warning["kind"] == "unknown_executor" and warning["executor"] == "dask_typo"
    assert warning["tasks"] == [{"name": "square", "node_id": node_id}]
    assert warning["message"].startswith(f"unknown executor 'dask_typo' on task 'square' (node {node_id}); "
                                         f"this server offers: {offered()}; did you mean 'dask'?")
    status, body = call(server, "POST", "dispatches", inlined(only_known, 1))
    assert status == 201 and body["warnings"] == []


def test_a_lattice_default_names_every_task_in_one_warning(server):
    with pytest.warns(UserWarning, match=r"unknown executor 'lokal' on tasks 'double' \(node \d+\), "
                                         r"'plus_one' \(node \d+\); .*did you mean 'local'\?") as caught:
        dispatch_id = ct.dispatch(all_on_a_typo)(1)
    assert len([w for w in caught if "lokal" in str(w.message)]) == 1
    result = ct.get_result(dispatch_id, wait=True)
    nodes = nodes_by_name(result)
    assert result.status == ct.status.FAILED
    assert nodes["double"]["status"] == ct.status.FAILED and "did you mean 'local'?" in nodes["double"]["error"]
    assert nodes["plus_one"]["status"] == ct.status.NEW_OBJECT  # it waited on double, which failed


def test_redispatch_warns_too(server):
    with pytest.warns(UserWarning, match="dask_typo"):
        dispatch_id = ct.dispatch(two_branches)(1)
    with pytest.warns(UserWarning, match=r"dispatch \S+: unknown executor 'dask_typo' on task 'square'"):
        again = ct.redispatch(dispatch_id)()
    assert ct.get_result(again, wait=True).status == ct.status.FAILED


@pytest.mark.parametrize("executor, said", [
    ({"name": "", "attrs": {}}, "is not a short name"),
    ({"name": "no/slashes", "attrs": {}}, "is not a short name"),
    ({"name": "x" * 101, "attrs": {}}, "is not a short name"),
    ({"name": "fine", "attrs": {"blob": "x" * 70000}}, "at most 65536"),
    ({"name": "fine", "attrs": []}, "executor must be {'name': str, 'attrs': {...}}"),
    ({"name": 5, "attrs": {}}, "executor must be {'name': str, 'attrs': {...}}"),
])
def test_an_executor_of_the_wrong_shape_is_still_malformed(server, executor, said):
    manifest = json.loads(inlined(two_branches, 1))
    square_node = next(n for n in manifest["nodes"] if n["name"] == "square")
    square_node["executor"] = executor
    status, body = call(server, "POST", "dispatches", json.dumps(manifest).encode())
    assert status == 400
    assert body["error"].startswith(f"malformed dispatch: node {square_node['id']} (square): ")
    assert said in body["error"]


def test_nan_in_executor_settings_is_malformed(server):
    manifest = json.loads(inlined(two_branches, 1))
    square_node = next(n for n in manifest["nodes"] if n["name"] == "square")
    square_node["executor"] = {"name": "dask_typo", "attrs": {"cpus": float("nan")}}
    status, answer = call(server, "POST", "dispatches", json.dumps(manifest).encode())  # NaN: not JSON
    assert status == 400 and "NaN is not JSON" in answer["error"]  # refused by the body's parse
