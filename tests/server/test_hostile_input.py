"""Hostile input gets a 4xx with a JSON message, never a 5xx, and leaves the server serving.

One test per case found by the hardening review: deep JSON, bad query
parameters, values of the wrong type or range in a manifest, huge numbers,
bad payload keys; and a dispatch whose stored options cannot run ends FAILED
instead of staying RUNNING, across a restart too.
"""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any

import pytest

from covalent_nb.server.json_body import MAX_DEPTH
from covalent_nb.server.manifest_check import MAX_NODES, MAX_RETRIES
from covalent_nb.server.query_args import MAX_LIST_LIMIT
from tests.conftest import RunningServer, start_server, wait_for
from tests.server.manifests import raw_request, small_manifest


def post_manifest(server: RunningServer, manifest: Any) -> tuple[int, Any]:
    return raw_request(server, "POST", "dispatches", json.dumps(manifest).encode())


def assert_refused(answer: tuple[int, Any], *words: str) -> str:
    """A 400 whose JSON error names every one of ``words``; the error."""
    status, body = answer
    assert status == 400, (status, body)
    assert isinstance(body, dict) and isinstance(body.get("error"), str), body
    for word in words:
        assert word in body["error"], (word, body["error"])
    return body["error"]


def finished(server: RunningServer, dispatch_id: str, timeout: float = 60) -> str:
    """The dispatch's status once it is terminal (fails after ``timeout``)."""
    seen: dict[str, str] = {}

    def terminal() -> bool:
        status, body = raw_request(server, "GET", f"dispatches/{dispatch_id}?status_only=1")
        assert status == 200, body
        seen["status"] = body["status"]
        return body["status"] in ("COMPLETED", "FAILED", "CANCELLED")

    wait_for(terminal, f"dispatch {dispatch_id} ending", timeout)
    return seen["status"]


def deep(levels: int) -> bytes:
    return b'{"task_ids":' + b"[" * levels + b"]" * levels + b"}"


def test_the_valid_manifest_runs(server):
    status, body = post_manifest(server, small_manifest())
    assert status == 201, body
    assert finished(server, body["dispatch_id"]) == "COMPLETED"


@pytest.mark.parametrize("path", ["dispatches", "dispatches/{id}/cancel", "dispatches/{id}/payloads"])
def test_json_nested_a_thousand_levels_is_refused(server, path):
    status, body = post_manifest(server, small_manifest())
    path = path.format(id=body["dispatch_id"])
    error = assert_refused(raw_request(server, "POST", path, deep(1000)), "not valid JSON", f"{MAX_DEPTH} levels")
    assert len(error) < 300
    assert_refused(raw_request(server, "POST", path, b"[" * 100_000), f"{MAX_DEPTH} levels")
    # nesting up to the limit is only refused for what it says, not for its depth
    status, body = raw_request(server, "POST", path, deep(MAX_DEPTH - 1))
    assert status == 400 and "levels" not in body["error"]


def test_json_with_nan_or_huge_numbers_is_refused(server):
    manifest = small_manifest()
    text = json.dumps(manifest).replace('"time_limit": null', '"time_limit": NaN', 1)
    assert_refused(raw_request(server, "POST", "dispatches", text.encode()), "NaN")
    text = json.dumps(manifest).replace('"output": 1', '"output": 1' + "0" * 5000, 1)
    assert_refused(raw_request(server, "POST", "dispatches", text.encode()), "digits")
    text = json.dumps(manifest).replace('"time_limit": null', '"time_limit": 1e999', 1)
    assert_refused(raw_request(server, "POST", "dispatches", text.encode()), "too large")
    assert_refused(raw_request(server, "POST", "dispatches", b"\xff\xfe{}"), "not valid JSON")


@pytest.mark.parametrize("limit", ["abc", "1.5", "", "-1", "0", "1e3", "%00", "1" * 5000])
def test_a_bad_list_limit_is_refused(server, limit):
    assert_refused(raw_request(server, "GET", f"dispatches?limit={limit}"), "'limit'", str(MAX_LIST_LIMIT))


def test_a_huge_list_limit_is_capped(server):
    status, body = raw_request(server, "GET", f"dispatches?limit={10 ** 30}")
    assert status == 200 and len(body["dispatches"]) <= MAX_LIST_LIMIT


@pytest.mark.parametrize("query", ["before=abc", "before=1e999_x", "before=1_..%2Fx", "status=RUNNIN",
                                   "status=RUNNING,,nope"])
def test_bad_paging_and_status_filters_are_refused(server, query):
    assert_refused(raw_request(server, "GET", f"dispatches?{query}"), "query parameter")


@pytest.mark.parametrize("query", ["status_only=maybe", "inline_output=2"])
def test_bad_flags_are_refused(server, query):
    status, body = post_manifest(server, small_manifest())
    assert_refused(raw_request(server, "GET", f"dispatches/{body['dispatch_id']}?{query}"), "1 or 0")


@pytest.mark.parametrize("timeout", ["nan", "inf", "-1", "abc", "1e999", "1" * 200])
def test_bad_wait_timeouts_are_refused(server, timeout):
    status, body = post_manifest(server, small_manifest())
    assert_refused(raw_request(server, "GET", f"dispatches/{body['dispatch_id']}/wait?timeout={timeout}"),
                   "'timeout'", "seconds")


def test_a_long_wait_timeout_is_capped(server):
    status, body = post_manifest(server, small_manifest())
    status, view = raw_request(server, "GET", f"dispatches/{body['dispatch_id']}/wait?timeout=1e300")
    assert status == 200 and view["status"] == "COMPLETED"


def spoiled(change: Any) -> dict[str, Any]:
    manifest = small_manifest()
    change(manifest)
    return manifest


WRONG_SHAPES = [[], {}, [1], {"a": 1}, "x", 1.5, True, None]


@pytest.mark.parametrize("value", WRONG_SHAPES)
def test_a_kind_of_the_wrong_type_is_refused(server, value):
    assert_refused(post_manifest(server, spoiled(lambda m: m["nodes"][1].update(kind=value))), "node 1", "kind")


@pytest.mark.parametrize("end", ["source", "target"])
@pytest.mark.parametrize("value", WRONG_SHAPES + [2 ** 64, -1, 7])
def test_an_edge_end_of_the_wrong_type_is_refused(server, end, value):
    assert_refused(post_manifest(server, spoiled(lambda m: m["edges"][0].update({end: value}))), "edge 0")


@pytest.mark.parametrize("value", WRONG_SHAPES + [2 ** 64, 7, -1])
def test_an_output_that_is_no_node_is_refused(server, value):
    assert_refused(post_manifest(server, spoiled(lambda m: m.update(output=value))), "'output'")


@pytest.mark.parametrize("value", ["abc", [1], {}, True, -1, 1e300, "5"])
def test_a_time_limit_that_is_no_number_of_seconds_is_refused(server, value):
    spoil = lambda m: m["nodes"][1]["options"].update(time_limit=value)  # noqa: E731
    assert_refused(post_manifest(server, spoiled(spoil)), "node 1", "time_limit")


@pytest.mark.parametrize("value", ["1", 1.5, -1, MAX_RETRIES + 1, [0], True, 2 ** 70])
def test_retries_that_are_no_small_count_are_refused(server, value):
    spoil = lambda m: m["nodes"][1]["options"].update(retries=value)  # noqa: E731
    assert_refused(post_manifest(server, spoiled(spoil)), "node 1", "retries")


def test_task_options_in_executor_settings_are_checked_too(server):
    spoil = lambda m: m["nodes"][1].update(executor={"name": "dask", "attrs": {"time_limit": "abc"}})  # noqa: E731
    assert_refused(post_manifest(server, spoiled(spoil)), "node 1", "time_limit")


@pytest.mark.parametrize("value", [2 ** 63, -2 ** 63 - 1, 2 ** 100, 1.5, [1], {"a": 1}, "f" * 129])
def test_a_fingerprint_out_of_range_is_refused(server, value):
    assert_refused(post_manifest(server, spoiled(lambda m: m["nodes"][1].update(fingerprint=value))),
                   "node 1", "fingerprint")


@pytest.mark.parametrize("value", [2 ** 63 - 1, -2 ** 63, "f" * 128, None])
def test_a_fingerprint_in_range_is_taken(server, value):
    status, body = post_manifest(server, spoiled(lambda m: m["nodes"][1].update(fingerprint=value)))
    assert status == 201, body
    assert finished(server, body["dispatch_id"]) == "COMPLETED"


@pytest.mark.parametrize("field, value", [
    ("name", "n" * 1001), ("name", ""), ("name", ["x"]), ("format", True), ("format", "1"),
    ("redispatch_of", ["x"]), ("redispatch_of", "r" * 201), ("reuse_previous_results", "yes"),
    ("nodes", []), ("nodes", {"0": {}}), ("edges", {}), ("inputs", []), ("lattice", None),
])
def test_top_level_fields_of_the_wrong_type_or_size_are_refused(server, field, value):
    assert_refused(post_manifest(server, spoiled(lambda m: m.update({field: value}))), "malformed dispatch")


@pytest.mark.parametrize("spoil, words", [
    (lambda m: m["nodes"][1].update(name="n" * 1001), ["node 1", "'name'"]),
    (lambda m: m["nodes"][1].update(id=True), ["node 1", "'id'"]),
    (lambda m: m["nodes"][1].update(id=2 ** 63), ["node 1", "'id'"]),
    (lambda m: m["nodes"][1].update(function_name={"a": 1}), ["node 1", "function_name"]),
    (lambda m: m["nodes"][1].update(options=[1]), ["node 1", "options"]),
    (lambda m: m["edges"][0]["param"].update(kind=["arg"]), ["edge 0", "kind"]),
    (lambda m: m["edges"][0]["param"].update(index=2 ** 70), ["edge 0", "index"]),
    (lambda m: m["edges"][0].update(param={"kind": "kwarg", "name": "k" * 1001}), ["edge 0", "name"]),
    (lambda m: m["lattice"].update(source=["def"]), ["lattice", "source"]),
    (lambda m: m["lattice"].update(workflow_executor={"name": 5}), ["lattice", "executor"]),
    (lambda m: m["inputs"].update(repr={"args": [["-3"]], "kwargs": {}}), ["repr"]),
])
def test_node_edge_and_lattice_fields_are_checked(server, spoil, words):
    assert_refused(post_manifest(server, spoiled(spoil)), *words)


def test_a_manifest_over_the_node_limit_is_refused(server):
    manifest = small_manifest()
    manifest["nodes"] = [{"id": i} for i in range(MAX_NODES + 1)]  # the count is checked before each node
    manifest["edges"], manifest["output"] = [], 0
    assert_refused(post_manifest(server, manifest), "'nodes'", str(MAX_NODES))


@pytest.mark.parametrize("key", ["a" * 300, "ab", "..", "../" * 30, "0" * 63 + "/"])
def test_payload_keys_that_are_paths_are_refused(server, key):
    assert_refused(post_manifest(server, spoiled(lambda m: m["lattice"].update(blob=key))), "lattice")
    status, body = raw_request(server, "PUT", f"blobs/{key}", b"data")
    assert 400 <= status < 500, (status, body)


@pytest.mark.parametrize("method, path", [("GET", "nope"), ("POST", "dispatches/x/nope"), ("DELETE", "health/x"),
                                          ("GET", "dispatches/" + "d" * 201), ("PUT", "blobs/a/b")])
def test_a_path_no_route_takes_gets_a_json_404(server, method, path):
    status, body = raw_request(server, method, path, b"{}" if method != "GET" else None)
    assert status == 404 and "no such route" in body["error"], (status, body)


def test_the_server_still_serves_after_all_that(server):
    status, body = raw_request(server, "GET", "health")
    assert status == 200 and body["status"] == "ok"
    test_the_valid_manifest_runs(server)


def test_a_stored_dispatch_that_cannot_start_ends_failed_across_a_restart(tmp_path):
    """A dispatch stored before the manifest check refused bad options (here written into the
    database directly, the server stopped) fails when the server resumes it, instead of staying RUNNING."""
    running = start_server(tmp_path, workers=1)
    try:
        status, body = post_manifest(running, small_manifest())
        assert status == 201 and finished(running, body["dispatch_id"]) == "COMPLETED"
        done = running.cli("stop")
        assert done.returncode == 0, done.stderr
        db = sqlite3.connect(running.data_dir / "results.db")
        manifest = json.loads(db.execute("SELECT manifest FROM dispatches WHERE id=?",
                                         (body["dispatch_id"],)).fetchone()[0])
        manifest["nodes"][1]["options"]["time_limit"] = {"not": "a number"}
        with db:
            db.execute("UPDATE dispatches SET status='RUNNING', end_time=NULL, manifest=? WHERE id=?",
                       (json.dumps(manifest), body["dispatch_id"]))
            db.execute("UPDATE nodes SET status='NEW_OBJECT' WHERE dispatch_id=? AND node_id=1",
                       (body["dispatch_id"],))
        db.close()
        done = running.cli("start", "--address", "127.0.0.1", "--port", str(running.port), "--workers", "1")
        assert done.returncode == 0, done.stderr
        started = time.monotonic()
        assert finished(running, body["dispatch_id"], timeout=60) == "FAILED"
        assert time.monotonic() - started < 60
        status, view = raw_request(running, "GET", f"dispatches/{body['dispatch_id']}")
        assert "could not start" in view["error"]
    finally:
        running.cli("stop")
