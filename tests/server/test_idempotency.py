"""A retried ``POST dispatches`` (same ``Idempotency-Key``) returns the first dispatch and creates nothing."""

from __future__ import annotations

import base64
import json
import socket
import threading
import uuid
from typing import Any

import covalent_nb as ct
from covalent_nb.server.store import IDEMPOTENCY_SECONDS, ResultStore
from covalent_nb.workflow import build_manifest
from tests.conftest import RunningServer, start_server
from tests.server.test_api import call, call_with_headers, dispatch_count


@ct.electron
def triple(x):
    return 3 * x


@ct.lattice
def tripled(x):
    return triple(x)


def manifest_body(x: int) -> bytes:
    manifest, blobs = build_manifest(tripled, (x,), {})
    manifest["blobs"] = {k: base64.b64encode(v).decode() for k, v in blobs.items()}
    return json.dumps(manifest).encode()


def post(server: RunningServer, body: bytes, key: str | None) -> tuple[int, dict[str, str], Any]:
    """``POST dispatches`` with an ``Idempotency-Key``; (status, headers, JSON answer)."""
    status, answer, headers = call_with_headers(server, "POST", "dispatches", body,
                                                headers={"Idempotency-Key": key} if key is not None else None)
    return status, headers, answer


def test_the_same_key_returns_the_first_dispatch(server):
    before = dispatch_count(server)
    key, body = str(uuid.uuid4()), manifest_body(7)
    status, _, first = post(server, body, key)
    assert status == 201
    status, headers, again = post(server, body, key)
    assert status == 200 and again == first and headers.get("Idempotent-Replayed") == "true"
    assert dispatch_count(server) == before + 1
    assert ct.get_result(first["dispatch_id"], wait=True).result == 21
    # the same key with another manifest is a mistake, not a retry
    status, _, answer = post(server, manifest_body(8), key)
    assert status == 422 and first["dispatch_id"] in answer["error"] and "new key" in answer["error"]
    # another key, or none, is another dispatch
    assert post(server, body, str(uuid.uuid4()))[2]["dispatch_id"] != first["dispatch_id"]
    assert post(server, body, None)[0] == 201
    assert dispatch_count(server) == before + 3


@ct.electron
def length(data):
    return len(data)


@ct.lattice
def measured(a, b):
    return length(a) + length(b)


def test_retries_while_the_first_is_being_stored_wait_for_it(server):
    # A body over 256 KB is stored in slices, with turns of the event loop between them:
    # the same request sent again meanwhile must not make a second dispatch.
    manifest, blobs = build_manifest(measured, (b"a" * 150_000, b"b" * 150_001), {})
    manifest["blobs"] = {k: base64.b64encode(v).decode() for k, v in blobs.items()}
    body, key = json.dumps(manifest).encode(), str(uuid.uuid4())
    assert len(body) > 256 * 1024
    before = dispatch_count(server)
    answers: list[tuple[int, Any]] = []
    threads = [threading.Thread(target=lambda: answers.append(post(server, body, key)[::2])) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(status for status, _ in answers) == [200, 200, 200, 201]
    assert len({answer["dispatch_id"] for _, answer in answers}) == 1
    assert dispatch_count(server) == before + 1
    assert ct.get_result(answers[0][1]["dispatch_id"], wait=True).result == 300_001


def test_malformed_keys_are_refused(server):
    before = dispatch_count(server)
    for bad in ("short", "x" * 129, "has spaces in it", "semi;colon-12345", "ключ-ключ-ключ"):
        try:
            status, _, answer = post(server, manifest_body(1), bad)
        except UnicodeEncodeError:   # http.client refuses non-Latin-1 headers itself
            continue
        assert status == 400 and "Idempotency-Key" in answer["error"], (bad, status, answer)
    assert dispatch_count(server) == before


def test_keys_survive_a_restart_and_expire_after_a_day(tmp_path):
    other = start_server(tmp_path, workers=1)
    try:
        key, body = str(uuid.uuid4()), manifest_body(2)
        status, _, first = post(other, body, key)
        assert status == 201
        done = other.cli("restart", "--address", "127.0.0.1", "--port", str(other.port), "--workers", "1")
        assert done.returncode == 0, done.stderr
        status, _, again = post(other, body, key)
        assert status == 200 and again == first
    finally:
        other.cli("stop")
    store = ResultStore(other.data_dir)
    owner = store.get_dispatch(first["dispatch_id"])["owner"]
    assert store.find_request(owner, key)[1] == first["dispatch_id"]
    with store.transaction():
        store.db.execute("UPDATE idempotency_keys SET created = created - ?", (IDEMPOTENCY_SECONDS + 1,))
    assert store.find_request(owner, key) is None           # expired: a new dispatch would be made
    with store.transaction():
        store.remember_request(owner, "fresh-key-1", "digest", "some-dispatch", [])
    assert store.db.execute("SELECT key FROM idempotency_keys").fetchall() == [("fresh-key-1",)]  # old ones dropped
    store.close()


class AnswerDropper:
    """A TCP proxy in front of a server that loses the answer to the first ``POST dispatches``.

    The request reaches the server (which creates the dispatch); the proxy then
    closes the client's connection instead of passing the answer on, as a
    network failure or a proxy timeout would.
    """

    def __init__(self, server: RunningServer) -> None:
        self.upstream = (server.address, server.port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.addr = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.posts = 0
        self.dropped = 0
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        upstream = socket.create_connection(self.upstream)
        state = {"drop_next_answer": False}

        def requests() -> None:
            while data := _recv(client):
                if b"POST /api/v1/dispatches HTTP" in data:
                    with self._lock:
                        self.posts += 1
                        state["drop_next_answer"] = self.dropped == 0
                upstream.sendall(data)
            _close(upstream)

        threading.Thread(target=requests, daemon=True).start()
        while data := _recv(upstream):
            if state["drop_next_answer"]:
                with self._lock:
                    self.dropped += 1
                _close(client)                          # the answer is lost
                _close(upstream)
                return
            client.sendall(data)
        _close(client)

    def close(self) -> None:
        self.listener.close()


def _close(sock: socket.socket) -> None:
    """Close now: a FIN goes out even while another thread waits in recv on it."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


def _recv(sock: socket.socket) -> bytes:
    try:
        return sock.recv(65536)
    except OSError:
        return b""


def test_the_client_retries_a_dispatch_whose_answer_was_lost(server, monkeypatch):
    monkeypatch.setenv("COVALENT_NB_TOKEN", server.token)
    proxy = AnswerDropper(server)
    try:
        before = set_of_ids(server)
        dispatch_id = ct.dispatch(tripled, dispatcher_addr=proxy.addr)(5)
        assert proxy.dropped == 1 and proxy.posts == 2       # sent twice, the first answer lost
        assert set_of_ids(server) - before == {dispatch_id}  # one dispatch, and the client has its id
        assert ct.get_result(dispatch_id, wait=True).result == 15
        # every call is a new dispatch (a new key each time), even with the same arguments
        again = ct.dispatch(tripled, dispatcher_addr=proxy.addr)(5)
        assert again != dispatch_id and set_of_ids(server) - before == {dispatch_id, again}
    finally:
        proxy.close()


def set_of_ids(server: RunningServer) -> set[str]:
    return {d["id"] for d in call(server, "GET", "dispatches?limit=100000")[1]["dispatches"]}
