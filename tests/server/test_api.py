"""The HTTP API of a real server process: auth, bad input, events, durability, restarts."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import sqlite3
import threading
import urllib.error
import urllib.request
from typing import Any, Callable

import pytest

import covalent_nb as ct
from covalent_nb.client.http import early_status
from tests.conftest import RunningServer, free_port, server_for_this_process


def json_answer(data: bytes) -> Any:
    """An answer body as JSON (an empty one as None)."""
    return json.loads(data or b"null")


def call(server: RunningServer, method: str, path: str, body: bytes | None = None,
         token: str | None = "default", read: Callable[[bytes], Any] = json_answer,
         timeout: float = 30) -> tuple[int, Any]:
    """One raw HTTP request; returns (status, body read by ``read``, or the JSON error)."""
    status, answer, _ = call_with_headers(server, method, path, body, token, read=read, timeout=timeout)
    return status, answer


def call_with_headers(server: RunningServer, method: str, path: str, body: bytes | None = None,
                      token: str | None = "default", headers: dict[str, str] | None = None,
                      read: Callable[[bytes], Any] = json_answer,
                      timeout: float = 30) -> tuple[int, Any, dict[str, str]]:
    """:func:`call` sending ``headers`` too; returns (status, body, the answer's headers)."""
    request = urllib.request.Request(f"http://{server.addr}/api/v1/{path}", data=body, method=method,
                                     headers=headers or {})
    if token == "default":
        token = server.token
    if token:
        request.add_header("Authorization", f"token {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, read(response.read()), dict(response.headers)
    except urllib.error.HTTPError as err:
        return err.code, json_answer(err.read()), dict(err.headers)


@ct.electron
def inc(x):
    return x + 1


@ct.lattice
def small(x):
    return inc(x)


def dispatch_count(server: RunningServer) -> int:
    return len(call(server, "GET", "dispatches?limit=100000")[1]["dispatches"])


def test_every_call_needs_the_token(server):
    for method, path in [("GET", "health"), ("GET", "dispatches"), ("POST", "dispatches"),
                         ("GET", "dispatches/abc"), ("PUT", "blobs/" + "0" * 64)]:
        status, body = call(server, method, path, b"{}" if method != "GET" else None, token=None)
        assert status == 401, (method, path)
        assert "token" in body["error"]
        status, _ = call(server, method, path, b"{}" if method != "GET" else None, token="wrong")
        assert status == 401


def test_client_with_wrong_token_gets_clear_exception(server, monkeypatch):
    monkeypatch.setenv("COVALENT_NB_TOKEN", "not-the-token")
    with pytest.raises(ct.AuthenticationError, match="refused the token"):
        ct.dispatch(small)(1)


def test_malformed_requests_store_nothing(server):
    before = dispatch_count(server)
    status, body = call(server, "POST", "dispatches", b"{not json")
    assert status == 400 and "JSON" in body["error"]
    status, body = call(server, "POST", "dispatches", json.dumps({"format": 1, "name": "x"}).encode())
    assert status == 400 and "lattice" in body["error"]
    status, body = call(server, "POST", "dispatches", json.dumps([1, 2]).encode())
    assert status == 400
    # a manifest naming a payload that was never sent
    from covalent_nb.workflow import build_manifest
    manifest, _blobs = build_manifest(small, (1,), {})
    manifest["blobs"] = {}
    status, body = call(server, "POST", "dispatches", json.dumps(manifest).encode())
    assert status == 400 and "neither sent inline nor uploaded" in body["error"]
    # a cycle
    manifest, blobs = build_manifest(small, (1,), {})
    import base64
    manifest["blobs"] = {k: base64.b64encode(v).decode() for k, v in blobs.items()}
    manifest["edges"].append({"source": manifest["output"], "target": manifest["output"],
                              "param": {"kind": "wait"}})
    status, body = call(server, "POST", "dispatches", json.dumps(manifest).encode())
    assert status == 400 and "cycle" in body["error"]
    assert dispatch_count(server) == before
    # the server still serves
    assert ct.dispatch_sync(small)(1).result == 2


def test_unknown_ids_and_payloads(server):
    status, body = call(server, "GET", "dispatches/12345678-0000-0000-0000-000000000000")
    assert status == 404 and "no dispatch" in body["error"]
    status, _ = call(server, "POST", "dispatches/12345678-0000-0000-0000-000000000000/cancel", b"{}")
    assert status == 404
    dispatch_id = ct.dispatch(small)(1)
    ct.get_result(dispatch_id, wait=True)
    status, _ = call(server, "GET", f"dispatches/{dispatch_id}/blobs/{'a' * 64}")
    assert status == 404
    status, body = call(server, "POST", f"dispatches/{dispatch_id}/cancel", json.dumps({"task_ids": ["x"]}).encode())
    assert status == 400


def test_blob_upload_checks_its_key(server):
    data = b"hello" * 100000
    key = hashlib.sha256(data).hexdigest()
    status, body = call(server, "PUT", "blobs/" + "b" * 64, data)
    assert status == 400 and "does not match" in body["error"]
    status, body = call(server, "PUT", f"blobs/{key}", data)
    assert status == 201 and body["size"] == len(data)
    status, body = call(server, "PUT", "blobs/not-a-key", data)
    assert status == 400


def test_dispatch_is_durable_when_acknowledged(server):
    dispatch_id = ct.dispatch(small)(41)
    db = sqlite3.connect(f"file:{server.data_dir / 'results.db'}?mode=ro", uri=True)
    row = db.execute("SELECT name, manifest FROM dispatches WHERE id=?", (dispatch_id,)).fetchone()
    db.close()
    assert row is not None and row[0] == "small"
    manifest = json.loads(row[1])
    assert "def small" in manifest["lattice"]["source"]
    assert ct.get_result(dispatch_id, wait=True).result == 42


def test_events_websocket_pushes_status_changes(server):
    import asyncio
    import tornado.websocket

    @ct.electron
    def slow(x):
        import time
        time.sleep(0.5)
        return x

    @ct.lattice
    def flow(x):
        return slow(x)

    dispatch_id = ct.dispatch(flow)(1)

    async def listen() -> list[dict]:
        url = f"ws://{server.addr}/api/v1/events?dispatch_id={dispatch_id}&token={server.token}"
        conn = await tornado.websocket.websocket_connect(url)
        events = []
        while True:
            message = await asyncio.wait_for(conn.read_message(), 30)
            assert message is not None
            event = json.loads(message)
            events.append(event)
            if event["type"] == "dispatch" and event["terminal"] or (
                    event["type"] == "snapshot" and event["status"] == "COMPLETED"):
                conn.close()
                return events

    events = asyncio.run(listen())
    assert events[0]["type"] == "snapshot"
    statuses = [e["status"] for e in events[1:] if e["type"] == "node" and e["name"] == "slow"]
    assert statuses[-1:] == ["COMPLETED"] or events[0]["status"] == "COMPLETED"


def test_websocket_needs_token(server):
    import asyncio
    import tornado.httpclient
    import tornado.websocket

    async def connect() -> None:
        await tornado.websocket.websocket_connect(f"ws://{server.addr}/api/v1/events")

    with pytest.raises(tornado.httpclient.HTTPClientError) as info:
        asyncio.run(connect())
    assert info.value.code == 401


def test_build_errors_and_unpicklable_arguments_dispatch_nothing(server):
    @ct.lattice
    def broken(x):
        raise RuntimeError("bad body")

    before = dispatch_count(server)
    with pytest.raises(ct.GraphBuildError, match="bad body"):
        ct.dispatch(broken)(1)
    with pytest.raises(ct.SerializationError):
        ct.dispatch(small)(threading.Lock())
    assert dispatch_count(server) == before


def test_unreachable_dispatcher_names_address():
    port = free_port()
    with pytest.raises(ct.DispatcherUnreachableError, match=f"127.0.0.1:{port}.*covalent-nb start"):
        ct.dispatch(small, dispatcher_addr=f"127.0.0.1:{port}")(1)


def test_list_dispatches_newest_first(server):
    first = ct.dispatch(small)(1)
    second = ct.dispatch(small)(2)
    ct.get_result(second, wait=True)
    ids = [d["id"] for d in call(server, "GET", "dispatches")[1]["dispatches"]]
    assert ids.index(second) < ids.index(first)


def test_oversize_payload_and_restart_survival(tmp_path):
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    (config_dir / "covalent.conf").write_text("[server]\nmax_payload_mb = 1\n")
    with server_for_this_process(tmp_path, workers=1) as other:
        big = os.urandom(2 * 1024 * 1024)
        key = hashlib.sha256(big).hexdigest()
        status, body = call(other, "PUT", f"blobs/{key}", big)
        assert status == 413 and "limit" in body["error"]
        with pytest.raises(ct.DispatcherError, match="limit"):
            ct.dispatch(small, dispatcher_addr=other.addr)(big)
        dispatch_id = ct.dispatch(small, dispatcher_addr=other.addr)(10)
        assert ct.get_result(dispatch_id, wait=True, dispatcher_addr=other.addr).result == 11
        done = other.cli("restart", "--address", "127.0.0.1", "--port", str(other.port), "--workers", "1")
        assert done.returncode == 0, done.stderr
        again = ct.get_result(dispatch_id, dispatcher_addr=other.addr)
        assert again.status == "COMPLETED" and again.result == 11


def test_refusals_reach_clients_that_send_the_body_at_once(one_mb_server):
    # urllib sends the whole body without waiting. Before the server read refused bodies,
    # most of these ended in 'Connection reset by peer' instead of the answer.
    body = os.urandom(8 * 1024 * 1024)
    key = hashlib.sha256(body).hexdigest()
    for _ in range(5):
        status, answer = call(one_mb_server, "PUT", f"blobs/{key}", body)
        assert status == 413 and "limit" in answer["error"]
        status, answer = call(one_mb_server, "POST", "dispatches", body)
        assert status == 413 and "limit" in answer["error"]
        status, answer = call(one_mb_server, "PUT", f"blobs/{key}", body, token="wrong")
        assert status == 401 and "token" in answer["error"]
    assert call(one_mb_server, "GET", "health")[0] == 200


def expect_continue(server: RunningServer, path: str, length: int) -> http.client.HTTPConnection:
    """A connection that has sent the headers of ``PUT path`` with ``Expect: 100-continue``, no body yet."""
    conn = http.client.HTTPConnection(server.address, server.port, timeout=30)
    conn.putrequest("PUT", f"/api/v1/{path}")
    conn.putheader("Authorization", f"token {server.token}")
    conn.putheader("Content-Length", str(length))
    conn.putheader("Expect", "100-continue")
    conn.endheaders()
    return conn


def test_expect_continue_is_refused_before_the_body(one_mb_server, server):
    conn = expect_continue(one_mb_server, "blobs/" + "0" * 64, 100 * 1024 * 1024)
    try:
        assert early_status(conn.sock, wait=30) == 413
        response = conn.getresponse()
        assert response.status == 413 and "limit" in json.loads(response.read())["error"]
    finally:
        conn.close()
    body = b"accepted after 100 Continue"
    conn = expect_continue(server, f"blobs/{hashlib.sha256(body).hexdigest()}", len(body))
    try:
        assert early_status(conn.sock, wait=30) == 100
        conn.send(body)
        response = conn.getresponse()
        assert response.status == 201 and json.loads(response.read())["size"] == len(body)
    finally:
        conn.close()


@ct.electron
def blob_of(n_bytes):
    return bytes(n_bytes)


@ct.lattice
def two_blobs(n_bytes):
    return [blob_of(n_bytes), blob_of(n_bytes + 1)]


def post_payloads(server: RunningServer, dispatch_id: str, body: bytes, token: str | None = "default"):
    """``POST dispatches/{id}/payloads``; returns (status, the frame's metadata and blobs, or the JSON error)."""
    from covalent_nb._frames import unpack

    return call(server, "POST", f"dispatches/{dispatch_id}/payloads", body, token, read=unpack, timeout=60)


def output_keys(dispatch_id: str) -> list[str]:
    view = ct.get_result(dispatch_id, wait=True)._view
    return [n["output_key"] for n in view["nodes"] if n["name"] == "blob_of"]


def test_payloads_in_one_answer(server):
    from covalent_nb._serialize import loads

    dispatch_id = ct.dispatch(two_blobs)(1000)
    keys = output_keys(dispatch_id)
    status, (meta, blobs) = post_payloads(server, dispatch_id, json.dumps({"keys": keys + keys[:1]}).encode())
    assert status == 200
    assert meta["keys"] == keys and meta["omitted"] == []
    assert sorted(len(loads(blobs[k])) for k in keys) == [1000, 1001]


def test_payloads_past_the_batch_size_are_omitted(server):
    from covalent_nb.server.handlers import BATCH_BYTES

    dispatch_id = ct.dispatch(two_blobs)(BATCH_BYTES // 2 + 1000)   # two outputs, together over the limit
    keys = output_keys(dispatch_id)
    status, (meta, blobs) = post_payloads(server, dispatch_id, json.dumps({"keys": keys}).encode())
    assert status == 200
    assert meta["keys"] == keys[:1] and meta["omitted"] == keys[1:] and list(blobs) == keys[:1]
    result = ct.get_result(dispatch_id)
    outputs = result.get_all_node_outputs()
    assert sorted(len(v) for k, v in outputs.items() if k.startswith("blob_of(")) == \
        [BATCH_BYTES // 2 + 1000, BATCH_BYTES // 2 + 1001]     # the omitted one read by itself


def test_payloads_bad_requests(server):
    dispatch_id = ct.dispatch(two_blobs)(10)
    keys = output_keys(dispatch_id)
    status, _ = post_payloads(server, dispatch_id, json.dumps({"keys": keys}).encode(), token=None)
    assert status == 401
    status, body = post_payloads(server, dispatch_id, json.dumps({"keys": keys + ["f" * 64]}).encode())
    assert status == 404 and "f" * 64 in body["error"]
    for bad in (b"{not json", b"[1]", json.dumps({"keys": "abc"}).encode(), json.dumps({"keys": [1]}).encode()):
        status, body = post_payloads(server, dispatch_id, bad)
        assert status == 400, bad
    status, body = post_payloads(server, dispatch_id, json.dumps({"keys": keys * 501}).encode())
    assert status == 400 and "at most 1000" in body["error"]
    status, body = post_payloads(server, "12345678-0000-0000-0000-000000000000", json.dumps({"keys": keys}).encode())
    assert status == 404 and "no dispatch" in body["error"]
