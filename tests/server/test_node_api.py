"""``GET dispatches/{id}/nodes/{node_id}`` on a real server: previews, history, executor, inputs.

Previews are the text the task runner (outputs) or the client (parameters)
made where the values were in memory; the server stores and serves them.
"""

from __future__ import annotations

import covalent_nb as ct
from covalent_nb._preview import MAX_PREVIEW_CHARS
from tests.conftest import RunningServer
from tests.server.manifests import raw_request, small_manifest
from tests.server.test_api import call


@ct.electron
def make_shown(tag):
    class Shown:  # defined here, so that the worker has it (the output is made and pickled there)
        """An output whose repr says something a preview must carry."""

        def __repr__(self) -> str:
            return "<Shown from the worker>"
    print("making", tag)
    return Shown()


@ct.electron(executor=ct.executor.DaskExecutor())
def numbers(n):
    return list(range(n))


@ct.electron
def explode(x):
    print("about to fail")
    raise ValueError(f"bad value {x}")


@ct.lattice
def previews(tag, n):
    return make_shown(tag), numbers(n)


@ct.lattice
def failing(x):
    return explode(x)


def node_of(view: dict, name: str) -> dict:
    return next(n for n in view["nodes"] if n["name"] == name)


def test_outputs_and_parameters_have_text_previews(server: RunningServer) -> None:
    dispatch_id = ct.dispatch(previews)("label", 5000)
    assert ct.get_result(dispatch_id, wait=True).status == "COMPLETED"
    view = call(server, "GET", f"dispatches/{dispatch_id}")[1]
    shown = call(server, "GET", f"dispatches/{dispatch_id}/nodes/{node_of(view, 'make_shown')['node_id']}")[1]
    assert shown["node"]["preview"] == "<Shown from the worker>"
    assert shown["node"]["stdout"] == "making label\n"
    assert [step["status"] for step in shown["history"]] == ["RUNNING", "COMPLETED"]
    assert shown["history"][0]["at"] <= shown["history"][1]["at"]
    assert shown["node"]["executor"] == {"name": "dask", "attrs": {}, "source": "server"}
    (parameter,) = shown["inputs"]
    assert parameter["kind"] == "parameter" and parameter["preview"] == "'label'"
    assert parameter["param"] == {"kind": "arg", "index": 0}
    listed = call(server, "GET", f"dispatches/{dispatch_id}/nodes/{node_of(view, 'numbers')['node_id']}")[1]
    assert listed["node"]["preview"].startswith("[0, 1, 2") and len(listed["node"]["preview"]) < 2100
    assert listed["node"]["executor"]["source"] == "task"
    assert listed["inputs"][0]["preview"] == "5000"


def test_a_failed_task_has_its_error_traceback_and_stdout(server: RunningServer) -> None:
    dispatch_id = ct.dispatch(failing)(7)
    assert ct.get_result(dispatch_id, wait=True).status == "FAILED"
    view = call(server, "GET", f"dispatches/{dispatch_id}")[1]
    details = call(server, "GET", f"dispatches/{dispatch_id}/nodes/{node_of(view, 'explode')['node_id']}")[1]
    node = details["node"]
    assert node["status"] == "FAILED" and node["error"] == "ValueError: bad value 7"
    assert "raise ValueError" in node["traceback"] and node["stdout"] == "about to fail\n"
    assert node["preview"] is None
    assert details["history"][-1]["status"] == "FAILED"


def test_executor_secrets_are_masked(server: RunningServer) -> None:
    manifest = small_manifest()
    manifest["nodes"][1]["executor"] = {"name": "no_such_executor", "attrs": {"api_token": "hunter2", "region": "x"}}
    status, created = raw_request(server, "POST", "dispatches", __import__("json").dumps(manifest).encode())
    assert status == 201, created
    details = call(server, "GET", f"dispatches/{created['dispatch_id']}/nodes/1")[1]
    assert details["node"]["executor"] == {"name": "no_such_executor", "attrs": {"api_token": "***", "region": "x"},
                                           "source": "task"}
    assert "hunter2" not in str(details)


def test_unknown_nodes_and_dispatches_are_404(server: RunningServer) -> None:
    dispatch_id = ct.dispatch(failing)(1)
    assert call(server, "GET", f"dispatches/{dispatch_id}/nodes/999")[0] == 404
    assert call(server, "GET", f"dispatches/{dispatch_id}/nodes/{'9' * 30}")[0] == 404
    assert call(server, "GET", "dispatches/nope/nodes/0")[0] == 404
    assert call(server, "GET", f"dispatches/{dispatch_id}/nodes/x")[0] == 404
    assert call(server, "GET", f"dispatches/{dispatch_id}/nodes/0", token=None)[0] == 401


def test_a_manifest_preview_is_checked(server: RunningServer) -> None:
    import json

    manifest = small_manifest()
    manifest["nodes"][0]["preview"] = "p" * (MAX_PREVIEW_CHARS + 1)
    status, body = raw_request(server, "POST", "dispatches", json.dumps(manifest).encode())
    assert status == 400 and "'preview' must be null or a string" in body["error"]
    manifest["nodes"][0]["preview"] = ["not", "text"]
    assert raw_request(server, "POST", "dispatches", json.dumps(manifest).encode())[0] == 400
    manifest["nodes"][0]["preview"] = "-3 (as sent)"
    status, created = raw_request(server, "POST", "dispatches", json.dumps(manifest).encode())
    assert status == 201
    details = call(server, "GET", f"dispatches/{created['dispatch_id']}/nodes/1")[1]
    assert details["inputs"][0]["preview"] == "-3 (as sent)"


def test_a_reused_task_keeps_its_preview(server: RunningServer) -> None:
    first = ct.dispatch(previews)("again", 3)
    assert ct.get_result(first, wait=True).status == "COMPLETED"
    second = ct.redispatch(first, reuse_previous_results=True)()
    assert ct.get_result(second, wait=True).status == "COMPLETED"
    view = call(server, "GET", f"dispatches/{second}")[1]
    node = node_of(view, "numbers")
    details = call(server, "GET", f"dispatches/{second}/nodes/{node['node_id']}")[1]
    assert "PENDING_REUSE" in [step["status"] for step in details["history"]]
    assert details["node"]["preview"] == "[0, 1, 2]"
