"""The client's HTTP connection against real servers: large bodies wait for ``100 Continue``."""

from __future__ import annotations

import hashlib
import http.client
import os

import pytest

from covalent_nb.client import http as client_http
from covalent_nb.client.http import EXPECT_CONTINUE_BYTES, DispatcherConnection
from covalent_nb.errors import DispatcherError


@pytest.fixture
def bytes_sent(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Sizes of what ``http.client`` sends after the headers (observed, still sent)."""
    sizes: list[int] = []
    send = http.client.HTTPConnection.send

    def counting_send(self: http.client.HTTPConnection, data: bytes) -> None:
        sizes.append(len(data))
        send(self, data)

    monkeypatch.setattr(http.client.HTTPConnection, "send", counting_send)
    return sizes


@pytest.fixture
def early_statuses(monkeypatch: pytest.MonkeyPatch) -> list[int | None]:
    """What ``early_status`` saw for each large body (observed, unchanged)."""
    seen: list[int | None] = []
    look = client_http.early_status

    def recording_look(*args: object, **kwargs: object) -> int | None:
        seen.append(look(*args, **kwargs))  # type: ignore[arg-type]
        return seen[-1]

    monkeypatch.setattr(client_http, "early_status", recording_look)
    return seen


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
