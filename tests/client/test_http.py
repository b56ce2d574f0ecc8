"""The client's HTTP connection against real servers: large bodies wait for ``100 Continue``; a
kept-alive connection that the server closed is replaced before it is used."""

from __future__ import annotations

import hashlib
import http.client
import os

import pytest

import covalent_nb as ct
from covalent_nb.client import http as client_http
from covalent_nb.client.http import EXPECT_CONTINUE_BYTES, DispatcherConnection
from covalent_nb.errors import DispatcherError
from tests.conftest import start_server


@pytest.fixture
def bytes_sent(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Sizes of all that ``http.client`` sends, headers and bodies (observed, still sent)."""
    sizes: list[int] = []
    send = http.client.HTTPConnection.send

    def counting_send(self: http.client.HTTPConnection, data: bytes) -> None:
        sizes.append(len(data))
        send(self, data)

    monkeypatch.setattr(http.client.HTTPConnection, "send", counting_send)
    return sizes


def test_refused_large_upload_sends_no_body(one_mb_server, bytes_sent, early_statuses):
    conn = DispatcherConnection(one_mb_server.address, one_mb_server.port, one_mb_server.token)
    body = bytes(64 * 1024 * 1024)
    with pytest.raises(DispatcherError, match="limit of 1048576 bytes") as caught:
        conn.put_blob(hashlib.sha256(body).hexdigest(), body)
    assert caught.value.status == 413
    assert early_statuses == [413]
    assert sum(bytes_sent) < 64 * 1024  # the headers only
    assert conn.get_json("health")["status"] == "ok"  # and the client goes on working


def test_large_upload_is_sent_after_100_continue(server, bytes_sent, early_statuses):
    conn = DispatcherConnection(server.address, server.port, server.token)
    body = os.urandom(3 * 1024 * 1024)
    conn.put_blob(hashlib.sha256(body).hexdigest(), body)
    assert early_statuses == [100]
    assert sum(bytes_sent) >= len(body)
    small = os.urandom(EXPECT_CONTINUE_BYTES - 1)
    conn.put_blob(hashlib.sha256(small).hexdigest(), small)
    assert early_statuses == [100]  # a small body goes with its headers


def test_upload_to_a_server_that_closes_names_the_limit(one_mb_server, monkeypatch):
    # A server that never answers 100 Continue (wait 0 here) gets the body at once; ours then
    # closes the connection after refusing a body too large to read, and the error says why.
    monkeypatch.setattr(client_http, "CONTINUE_WAIT_SECONDS", 0.0)
    conn = DispatcherConnection(one_mb_server.address, one_mb_server.port, one_mb_server.token)
    body = bytes(256 * 1024 * 1024)
    with pytest.raises(DispatcherError) as caught:
        conn.put_blob(hashlib.sha256(body).hexdigest(), body)
    # Either the connection dropped mid-body, or the answer arrived before it did: both name the limit.
    assert "server.max_payload_mb" in str(caught.value)


@ct.electron
def increment(x):
    return x + 1


@ct.lattice
def incremented(x):
    return increment(x)


def test_first_dispatch_after_a_server_restart_goes_through(tmp_path, monkeypatch):
    # A kernel keeps its connection across a restart of the server (or its idle timeout). A POST
    # is not retried, since it may have been acted on, so the closed connection must not be used.
    running = start_server(tmp_path, workers=1)
    try:
        monkeypatch.setenv("COVALENT_NB_TOKEN", running.token)
        first = ct.dispatch(incremented, dispatcher_addr=running.addr)(1)
        assert ct.get_result(first, wait=True, dispatcher_addr=running.addr).result == 2
        done = running.cli("restart", "--address", "127.0.0.1", "--port", str(running.port), "--workers", "1")
        assert done.returncode == 0, done.stderr
        second = ct.dispatch(incremented, dispatcher_addr=running.addr)(2)
        assert ct.get_result(second, wait=True, dispatcher_addr=running.addr).result == 3
    finally:
        running.cli("stop")
