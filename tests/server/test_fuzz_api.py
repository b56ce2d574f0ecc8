"""Property-based fuzzing of a real server's HTTP API (hypothesis, fixed seed, bounded examples).

A server started through the CLI, in a working directory and temporary
directory of its own, gets spoiled manifests (a valid one with a field
replaced by a value of the wrong type or size, deep nesting, huge numbers,
path-like strings, keys removed or added), hostile query strings on every
route and hostile bodies on every route that reads one. Properties:

- no answer is a 5xx, and every 4xx carries ``{"error": message}``;
- every dispatch the server accepted ends (or, cancelled, ends) within a bound;
- nothing is written outside the server's data directory: its working
  directory stays empty and its temporary directory holds only Dask's scratch space.

``derandomize=True`` makes every run send the same examples.
"""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path
from typing import Any, Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import RunningServer, start_server, wait_for
from tests.server.manifests import raw_request, small_manifest

FUZZ = settings(derandomize=True, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
TERMINAL = ("COMPLETED", "FAILED", "CANCELLED")
DEEP = "\u0000deep\u0000"
"""Stands for nesting too deep to build as Python values: replaced in the JSON text."""


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, Path, dict[str, Any]]]:
    """A server whose working directory (``cwd``) and TMPDIR (``tmp``) are watched; the dispatches it accepted."""
    root = tmp_path_factory.mktemp("fuzz")
    (root / "cwd").mkdir()
    (root / "tmp").mkdir()
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root / "cwd")  # the CLI starts the server in its own working directory
        running = start_server(root, workers=1, env_extra={"TMPDIR": str(root / "tmp")})
    accepted: dict[str, Any] = {"ids": []}
    yield running, root, accepted
    running.cli("stop")


def checked_answer(answer: tuple[int, Any], what: str, json_errors: bool = True) -> int:
    """The answer's status, after checking it is no 5xx and (``json_errors``) that a 4xx says
    ``{"error": ...}``."""
    status, body = answer
    assert status < 500, f"{what}: {status} {body!r}"
    if json_errors and status >= 400:
        assert isinstance(body, dict) and isinstance(body.get("error"), str), f"{what}: {status} {body!r}"
    return status


# ---- spoiled manifests -----------------------------------------------------------------------

def _paths(value: Any, prefix: tuple = ()) -> Iterator[tuple]:
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            if key != "blobs":
                yield from _paths(item, prefix + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, prefix + (index,))


PATHS = [path for path in _paths(small_manifest()) if path]
PATH_LIKE = ["..", "../../../etc/passwd", "/etc/passwd", "a/b", "\\..\\x", "~", ".", "", "\u0000",
             "%2e%2e%2f", "CON", "x" * 300, "ab", "0" * 63 + "/", "f" * 64]
BIG_NUMBERS = [2 ** 63, 2 ** 63 - 1, -2 ** 63 - 1, 2 ** 64, 10 ** 39, -1, 0, 1e308, -1e308, 5e-324]
json_leaves = st.one_of(st.none(), st.booleans(), st.integers(-2 ** 70, 2 ** 70),
                        st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20))
json_values = st.recursive(json_leaves, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                                st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                           max_leaves=12)
hostile = st.one_of(json_values, st.sampled_from(PATH_LIKE), st.sampled_from(BIG_NUMBERS),
                    st.integers(200, 3000).map(lambda n: "n" * n), st.just(DEEP))


def _set(manifest: dict[str, Any], path: tuple, value: Any) -> None:
    target = manifest
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value


def _delete(manifest: dict[str, Any], path: tuple) -> None:
    target = manifest
    for step in path[:-1]:
        target = target[step]
    del target[path[-1]]


@st.composite
def spoiled_manifests(draw: st.DrawFn) -> bytes:
    """A valid manifest with one to three spoilings, as the JSON text sent."""
    manifest = small_manifest()
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(PATHS))
        try:
            action = draw(st.sampled_from(["set", "set", "set", "delete", "add"]))
            if action == "set":
                _set(manifest, path, draw(hostile))
            elif action == "delete":
                _delete(manifest, path)
            else:
                _set(manifest, path[:-1] + (draw(st.sampled_from(PATH_LIKE + ["extra"])),), draw(hostile))
        except (KeyError, IndexError, TypeError):
            pass  # an earlier spoiling took that path away
    text = json.dumps(manifest)
    levels = draw(st.sampled_from([3, 64, 65, 1000]))
    return text.replace(json.dumps(DEEP), "[" * levels + "]" * levels).encode()


@settings(FUZZ, max_examples=1000)
@given(body=spoiled_manifests())
def test_spoiled_manifests_get_no_5xx(fuzzed, body):
    running, _, accepted = fuzzed
    answer = raw_request(running, "POST", "dispatches", body)
    status = checked_answer(answer, "POST dispatches")
    if status == 201:
        accepted["ids"].append(answer[1]["dispatch_id"])


# ---- hostile query strings and bodies on every route -----------------------------------------------

QUERY_NAMES = ["limit", "before", "status", "status_only", "inline_output", "timeout", "dispatch_id", "token",
               "n", "wait", "x"]
query_texts = st.one_of(st.text(max_size=30), st.sampled_from(PATH_LIKE + ["nan", "inf", "-1", "1e999", "0",
                                                                          "1.5", "10" * 40, "%ff", "%00"]),
                        st.integers(-2 ** 70, 2 ** 70).map(str))


def _quote(text: str) -> str:
    return text if text.startswith("%") else urllib.parse.quote(text, safe="")


@st.composite
def query_strings(draw: st.DrawFn) -> str:
    pairs = draw(st.lists(st.tuples(st.sampled_from(QUERY_NAMES), query_texts), min_size=1, max_size=3))
    return "&".join(f"{name}={_quote(value)}" for name, value in pairs)


ROUTES = ["health", "executors", "dispatches", "dispatches/{id}", "dispatches/{id}/wait",
          "dispatches/{id}/blobs/{key}", "events", "dispatches/{bad}", "dispatches/{bad}/wait"]


def _reference(running: RunningServer, accepted: dict[str, Any]) -> tuple[str, str]:
    """A finished dispatch of the fuzzing server and the key of one of its payloads."""
    if "reference" not in accepted:
        status, body = raw_request(running, "POST", "dispatches", json.dumps(small_manifest()).encode())
        assert status == 201, body
        dispatch_id = body["dispatch_id"]
        wait_for(lambda: raw_request(running, "GET", f"dispatches/{dispatch_id}?status_only=1")[1]["status"]
                 in TERMINAL, "the reference dispatch ending")
        accepted["reference"] = (dispatch_id, small_manifest()["nodes"][1]["function"])
    return accepted["reference"]


@settings(FUZZ, max_examples=500)
@given(route=st.sampled_from(ROUTES), query=query_strings(), bad=st.sampled_from(PATH_LIKE[:-2] + ["%ff", "x" * 199]))
def test_hostile_query_strings_get_no_5xx(fuzzed, route, query, bad):
    running, _, accepted = fuzzed
    dispatch_id, key = _reference(running, accepted)
    path = route.format(id=dispatch_id, key=key, bad=_quote(bad) if bad else "x")
    # The WebSocket route answers a plain GET as tornado does (not JSON); still no 5xx.
    checked_answer(raw_request(running, "GET", f"{path}?{query}", timeout=90), f"GET {path}?{query}",
                   json_errors=route != "events")


BODY_ROUTES = [("POST", "dispatches"), ("POST", "dispatches/{id}/cancel"), ("POST", "dispatches/{id}/payloads"),
               ("POST", "gc"), ("PUT", "blobs/{key}"), ("PUT", "blobs/{bad}"), ("POST", "dispatches/{bad}/cancel"),
               ("DELETE", "dispatches/{bad}")]
raw_bodies = st.one_of(
    json_values.map(lambda value: json.dumps(value).encode()),
    st.binary(max_size=64),
    st.sampled_from([b"", b"null", b"[" * 1000, b"{" * 70, b'{"task_ids":' + b"[" * 200 + b"]" * 200 + b"}",
                     b'{"keys": ["' + b"a" * 300 + b'"]}', b'{"keys": [' + b"1" * 500 + b"]}",
                     b'{"task_ids": [true, 1e400]}', b'{"grace_seconds": NaN}', b"\xff\xfe\x00"]),
    st.dictionaries(st.sampled_from(["task_ids", "keys", "grace_seconds", "format"]), hostile, max_size=2)
    .map(lambda value: json.dumps(value).replace(json.dumps(DEEP), "[" * 100 + "]" * 100).encode()),
)


@settings(FUZZ, max_examples=500)
@given(route=st.sampled_from(BODY_ROUTES), body=raw_bodies, bad=st.sampled_from(PATH_LIKE[:-2]))
def test_hostile_bodies_get_no_5xx(fuzzed, route, body, bad):
    running, _, accepted = fuzzed
    dispatch_id, key = _reference(running, accepted)
    method, path = route
    path = path.format(id=dispatch_id, key=key, bad=_quote(bad) or "x")
    answer = raw_request(running, method, path, body)
    checked_answer(answer, f"{method} {path}")
    if method == "POST" and path == "dispatches" and answer[0] == 201:
        accepted["ids"].append(answer[1]["dispatch_id"])


# ---- after the fuzzing: nothing stuck, nothing written outside --------------------------------------

def test_every_accepted_dispatch_ends(fuzzed):
    running, _, accepted = fuzzed
    assert accepted["ids"], "the fuzzing should have had some spoiled manifests accepted"

    def status(dispatch_id: str) -> str:
        code, body = raw_request(running, "GET", f"dispatches/{dispatch_id}?status_only=1")
        assert code == 200, body
        return body["status"]

    try:
        wait_for(lambda: all(status(d) in TERMINAL for d in accepted["ids"]), "every accepted dispatch ending", 90)
    except AssertionError:
        for dispatch_id in accepted["ids"]:
            if status(dispatch_id) not in TERMINAL:
                checked_answer(raw_request(running, "POST", f"dispatches/{dispatch_id}/cancel", b"{}"), "cancel")
        wait_for(lambda: all(status(d) in TERMINAL for d in accepted["ids"]), "cancelled dispatches ending", 60)
    status_code, body = raw_request(running, "GET", "health")
    assert status_code == 200 and body["status"] == "ok"


def test_nothing_is_written_outside_the_data_dir(fuzzed):
    running, root, _ = fuzzed
    assert {p.name for p in root.iterdir()} <= {"config", "cwd", "data", "tmp"}
    assert list((root / "cwd").iterdir()) == []
    assert all(p.name.startswith("dask-") for p in (root / "tmp").iterdir()), list((root / "tmp").iterdir())
