"""The client's HTTP connection against real servers: large bodies wait for ``100 Continue``; a
kept-alive connection that the server closed is replaced before it is used; an answer that is not a
dispatcher's JSON (another web server's HTML page) is named by its status, reason and URL, never quoted."""

from __future__ import annotations

import hashlib
import http.client
import http.server
import json
import os
import threading
from typing import Iterator

import pytest

import covalent_nb as ct
from covalent_nb.client import http as client_http
from covalent_nb.client.http import EXPECT_CONTINUE_BYTES, DispatcherConnection
from covalent_nb.errors import AuthenticationError, DispatcherError, DispatchNotFoundError
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


HTML_PAGE = (b"<!DOCTYPE HTML>\n<html><head><title>404: Not Found</title></head>"
             b"<body><h1>404: Not Found</h1><p>The page is gone.</p></body></html>\n")


class _WebSiteHandler(http.server.BaseHTTPRequestHandler):
    """Any web server that is not a dispatcher: HTML pages, and a JSON error in Jupyter's shape."""

    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if "/jupyter-json/" in self.path:
            status, kind, body = 403, "application/json", json.dumps({"message": "Forbidden", "reason": None}).encode()
        elif "/html-ok/" in self.path:
            status, kind, body = 200, "text/html", HTML_PAGE
        else:
            status, kind, body = 404, "text/html", HTML_PAGE
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def web_site() -> Iterator[http.server.ThreadingHTTPServer]:
    """A real HTTP server on a free loopback port that answers HTML, as a wrong address would."""
    site = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _WebSiteHandler)
    thread = threading.Thread(target=site.serve_forever, daemon=True)
    thread.start()
    yield site
    site.shutdown()
    site.server_close()
    thread.join(10)


def site_connection(site: http.server.ThreadingHTTPServer, prefix: str = "/") -> DispatcherConnection:
    return DispatcherConnection("127.0.0.1", site.server_address[1], "some-token", prefix,
                                source="the config file /etc/example/covalent.conf")


def test_an_html_404_is_named_by_status_reason_and_url(web_site):
    conn = site_connection(web_site, "/covalent/")
    with pytest.raises(DispatcherError) as caught:
        conn.post_json("dispatches", {"manifest": {}})
    message = str(caught.value)
    asked = f"http://127.0.0.1:{web_site.server_address[1]}/covalent/api/v1/dispatches"
    assert message == (f"the server at http://127.0.0.1:{web_site.server_address[1]}/covalent/ answered 404 Not "
                       f"Found to POST {asked}, which is not a covalent-nb dispatcher's answer: check the address. "
                       "The address came from the config file /etc/example/covalent.conf.")
    assert caught.value.status == 404
    assert "<" not in message and "DOCTYPE" not in message


def test_an_html_404_for_a_dispatch_is_not_taken_for_a_missing_dispatch(web_site):
    with pytest.raises(DispatcherError) as caught:
        site_connection(web_site).get_json("dispatches/abc?status_only=true")
    assert not isinstance(caught.value, DispatchNotFoundError)
    asked = f"http://127.0.0.1:{web_site.server_address[1]}/api/v1/dispatches/abc?status_only=true"
    assert f"404 Not Found to GET {asked}, which is not a covalent-nb dispatcher's answer" in str(caught.value)


def test_an_html_page_with_200_is_not_quoted_either(web_site):
    with pytest.raises(DispatcherError) as caught:
        site_connection(web_site, "/html-ok/").get_json("health")
    message = str(caught.value)
    assert "with something that is not JSON, which is not a covalent-nb dispatcher's answer" in message
    assert "<" not in message and "The address came from the config file" in message


def test_a_json_error_in_jupyters_shape_keeps_its_message(web_site):
    with pytest.raises(AuthenticationError) as caught:
        site_connection(web_site, "/jupyter-json/").get_json("health")
    assert str(caught.value) == (f"the dispatcher at http://127.0.0.1:{web_site.server_address[1]}/jupyter-json/ "
                                 "refused the token: Forbidden (its address came from the config file "
                                 "/etc/example/covalent.conf)")
