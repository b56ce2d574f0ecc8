"""Users in the dispatcher: every dispatch has an owner, and a user never learns of another's.

The host that will give one server many users (the JupyterHub service) comes
later. These tests run the real API handlers, dispatcher, store and event hub
in this process, served by tornado on a loopback port, behind an
``authenticate`` that maps four test tokens to identities: it stands in for
that host's authentication, the one part that is not real here. Tasks run on
the real ``local`` executor (a process per task), with no Dask cluster.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import http.client
import json
import logging
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
import tornado.httpclient
import tornado.httpserver
import tornado.web
import tornado.websocket

from covalent_nb._serialize import blob_key
from covalent_nb.server.access import ALL_SCOPES, DISPATCH, READ, Identity
from covalent_nb.server.app import DispatcherService
from covalent_nb.server.auth import request_token
from covalent_nb.server.handlers import api_handlers
from covalent_nb.server.settings import ServerSettings

from tests.conftest import free_port
from tests.server.manifests import payload, small_manifest

IDENTITIES = {
    "alice-token": Identity("alice", frozenset({READ, DISPATCH})),
    "bob-token": Identity("bob", frozenset({READ, DISPATCH})),
    "carol-token": Identity("carol", ALL_SCOPES),  # the admin
    "dave-token": Identity("dave", frozenset({READ})),  # may look, not dispatch
}
LOCAL = {"name": "local", "attrs": {}}
UNKNOWN = "00000000-0000-4000-8000-000000000000"


def authenticate(handler: object) -> Identity | None:
    """The test host's authentication: a known token is its identity (see the module docstring)."""
    return IDENTITIES.get(request_token(handler))


@dataclasses.dataclass
class UsersServer:
    """The in-process API with several users, on ``127.0.0.1:port``."""

    port: int
    service: DispatcherService

    def call(self, token: str, method: str, path: str, body: Any = None,
             headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        """One request as the user of ``token``; (status, body). A dict or list body is sent as JSON."""
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request(method, f"/api/v1/{path}", body,
                         {"Authorization": f"token {token}", **(headers or {})})
            answer = conn.getresponse()
            return answer.status, answer.read()
        finally:
            conn.close()

    def json(self, token: str, method: str, path: str, body: Any = None, expect: int = 200,
             headers: dict[str, str] | None = None) -> Any:
        """The JSON answer of a request that must answer ``expect``."""
        status, data = self.call(token, method, path, body, headers)
        assert status == expect, (method, path, status, data[:300])
        return json.loads(data)

    def dispatch(self, token: str, manifest: dict[str, Any]) -> str:
        return self.json(token, "POST", "dispatches", manifest, expect=201)["dispatch_id"]

    def wait(self, token: str, dispatch_id: str) -> dict[str, Any]:
        return self.json(token, "GET", f"dispatches/{dispatch_id}/wait?timeout=60")


@pytest.fixture(scope="module")
def users(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UsersServer]:
    data_dir: Path = tmp_path_factory.mktemp("users")
    port = free_port()
    ready = threading.Event()
    box: dict[str, Any] = {}

    def run() -> None:
        async def main() -> None:
            service = DispatcherService(ServerSettings(data_dir=data_dir, address="127.0.0.1", port=port,
                                                       cluster=False))
            await service.start()
            app = tornado.web.Application(api_handlers("/", service, authenticate))
            server = tornado.httpserver.HTTPServer(app)
            server.listen(port, "127.0.0.1")
            box.update(service=service, stop=asyncio.Event(), loop=asyncio.get_running_loop())
            ready.set()
            await box["stop"].wait()
            server.stop()
            await service.stop()
        asyncio.run(main())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(60), "the in-process server did not start"
    yield UsersServer(port, box["service"])
    box["loop"].call_soon_threadsafe(box["stop"].set)
    thread.join(60)


def quick(name: str = "quick") -> dict[str, Any]:
    """``abs(-3)`` on the local executor."""
    manifest = small_manifest()
    manifest["name"] = name
    manifest["lattice"]["executor"] = LOCAL
    return manifest


def sleeper(seconds: int = 120) -> dict[str, Any]:
    """``time.sleep(seconds)`` on the local executor: runs until cancelled."""
    manifest = quick("sleeper")
    function, value = payload(time.sleep), payload(seconds)
    manifest["nodes"][0]["value"] = value[0]
    manifest["nodes"][1]["function"] = function[0]
    manifest["nodes"][1]["function_name"] = "sleep"
    manifest["inputs"]["args"] = [value[0]]
    manifest["blobs"].update({key: base64.b64encode(data).decode() for key, data in (function, value)})
    return manifest


@pytest.fixture(scope="module")
def alices(users: UsersServer) -> dict[str, Any]:
    """A finished dispatch of alice's, its view and its output key."""
    dispatch_id = users.dispatch("alice-token", quick("alices"))
    view = users.wait("alice-token", dispatch_id)
    assert view["status"] == "COMPLETED", view
    return {"id": dispatch_id, "view": users.json("alice-token", "GET", f"dispatches/{dispatch_id}"),
            "output": view["output_key"]}


def refusal(users: UsersServer, token: str, method: str, path: str, body: Any = None) -> tuple[int, str]:
    status, data = users.call(token, method, path, body)
    return status, json.loads(data)["error"]


def test_another_users_dispatch_answers_exactly_as_an_unknown_one(users, alices):
    a, key = alices["id"], alices["output"]
    routes = [("GET", "dispatches/{}", None), ("GET", "dispatches/{}?status_only=1", None),
              ("GET", "dispatches/{}/wait?timeout=0.1", None), ("POST", "dispatches/{}/cancel", {}),
              ("GET", f"dispatches/{{}}/blobs/{key}", None), ("POST", "dispatches/{}/payloads", {"keys": [key]}),
              ("GET", "dispatches/{}/graph.svg", None), ("GET", "dispatches/{}/nodes/1", None),
              ("DELETE", "dispatches/{}", None)]
    for method, path, body in routes:
        as_unknown = refusal(users, "bob-token", method, path.format(UNKNOWN), body)
        as_alices = refusal(users, "bob-token", method, path.format(a), body)
        assert as_unknown[0] == 404, (method, path, as_unknown)
        assert as_alices == (404, as_unknown[1].replace(UNKNOWN, a)), (method, path, as_alices)
    redispatch = dict(quick(), redispatch_of=a)
    unknown = dict(quick(), redispatch_of=UNKNOWN)
    assert refusal(users, "bob-token", "POST", "dispatches", redispatch) == \
        (404, refusal(users, "bob-token", "POST", "dispatches", unknown)[1].replace(UNKNOWN, a))
    # All of that left alice's dispatch as it was, and alice still reads it.
    assert users.json("alice-token", "GET", f"dispatches/{a}") == alices["view"]
    status, data = users.call("alice-token", "GET", f"dispatches/{a}/blobs/{key}")
    assert status == 200 and data


def test_listing_is_the_callers_and_all_is_admin_only(users, alices):
    bobs = users.dispatch("bob-token", quick("bobs"))
    users.wait("bob-token", bobs)
    listed = {d["id"] for d in users.json("bob-token", "GET", "dispatches")["dispatches"]}
    assert bobs in listed and alices["id"] not in listed
    assert users.json("bob-token", "GET", "dispatches?owner=bob&count=1")["total"] == len(listed)
    for query in ("all=1", "owner=alice", "owner=carol"):
        status, error = refusal(users, "bob-token", "GET", f"dispatches?{query}")
        assert status == 403 and "admin" in error, (query, status, error)
    assert refusal(users, "carol-token", "GET", "dispatches?all=1&owner=bob")[0] == 400
    assert refusal(users, "carol-token", "GET", "dispatches?owner=" + "x" * 201)[0] == 400
    assert refusal(users, "bob-token", "POST", "gc", {})[0] == 403
    everyone = users.json("carol-token", "GET", "dispatches?all=1&count=1")
    owners = {d["id"]: d["owner"] for d in everyone["dispatches"]}
    assert owners[bobs] == "bob" and owners[alices["id"]] == "alice" and everyone["total"] >= 2
    only_alice = users.json("carol-token", "GET", "dispatches?owner=alice")["dispatches"]
    assert only_alice and {d["owner"] for d in only_alice} == {"alice"}


def test_admin_reads_and_cancels_anothers_dispatch_and_each_action_is_logged(users, caplog):
    caplog.set_level(logging.INFO, logger="covalent_nb.server.access")
    running = users.dispatch("alice-token", sleeper())
    assert users.json("carol-token", "GET", f"dispatches/{running}?status_only=1")["id"] == running
    assert users.json("carol-token", "GET", f"dispatches/{running}")["name"] == "sleeper"
    assert refusal(users, "carol-token", "DELETE", f"dispatches/{running}")[0] == 403
    users.json("carol-token", "POST", f"dispatches/{running}/cancel", {})
    assert users.wait("alice-token", running)["status"] == "CANCELLED"
    users.json("carol-token", "GET", "dispatches?all=1")
    logged = [r.getMessage() for r in caplog.records if r.name == "covalent_nb.server.access"]
    assert f"admin carol: read dispatch {running} of user alice" in logged
    assert f"admin carol: cancel dispatch {running} of user alice" in logged
    assert "admin carol: list dispatches of every user" in logged
    assert not any("token" in message for message in logged)
    # The owner still deletes it; a user acting on its own dispatches is not logged as an admin.
    users.json("alice-token", "DELETE", f"dispatches/{running}")
    assert not any("alice:" in r.getMessage() for r in caplog.records)


def test_event_streams_carry_only_the_callers_dispatches(users, alices):
    async def scenario() -> tuple[list[dict], list[dict], str, str]:
        async def connect(token: str, query: str = "") -> Any:
            request = tornado.httpclient.HTTPRequest(f"ws://127.0.0.1:{users.port}/api/v1/events?{query}",
                                                     headers={"Authorization": f"token {token}"})
            return await tornado.websocket.websocket_connect(request)

        async def until_end(conn: Any, dispatch_id: str) -> list[dict]:
            got: list[dict] = []
            while True:
                message = await asyncio.wait_for(conn.read_message(), 60)
                assert message is not None, "the event stream closed"
                got.append(json.loads(message))
                if got[-1].get("dispatch_id") == dispatch_id and got[-1].get("terminal"):
                    return got

        bob, admin = await connect("bob-token"), await connect("carol-token", "all=1")
        alices_id = await asyncio.to_thread(users.dispatch, "alice-token", quick("alice-events"))
        bobs_id = await asyncio.to_thread(users.dispatch, "bob-token", quick("bob-events"))
        await asyncio.to_thread(users.wait, "alice-token", alices_id)
        bob_saw = await until_end(bob, bobs_id)
        admin_saw = await until_end(admin, bobs_id)
        admin_saw += await until_end(admin, alices_id) if not any(
            e.get("dispatch_id") == alices_id and e.get("terminal") for e in admin_saw) else []
        bob.close()
        admin.close()
        return bob_saw, admin_saw, alices_id, bobs_id

    bob_saw, admin_saw, alices_id, bobs_id = asyncio.run(scenario())
    assert {e["dispatch_id"] for e in bob_saw} == {bobs_id}
    assert all("owner" not in e for e in bob_saw)
    assert {alices_id, bobs_id} <= {e["dispatch_id"] for e in admin_saw}
    # Another's dispatch by id: 404 as an unknown one; everyone's stream: admin only.
    async def bob_connects(query: str) -> None:
        await tornado.websocket.websocket_connect(tornado.httpclient.HTTPRequest(
            f"ws://127.0.0.1:{users.port}/api/v1/events?{query}", headers={"Authorization": "token bob-token"}))

    for query, status in ((f"dispatch_id={alices['id']}", 404), (f"dispatch_id={UNKNOWN}", 404), ("all=1", 403)):
        with pytest.raises(tornado.httpclient.HTTPClientError) as refused:
            asyncio.run(bob_connects(query))
        assert refused.value.code == status, query


def test_a_payload_key_names_only_payloads_the_caller_uploaded_or_owns(users):
    secret = b"alice's secret payload " * 20_000  # over the inline size: uploaded with PUT
    key = blob_key(secret)
    assert users.json("alice-token", "PUT", f"blobs/{key}", secret, expect=201)["key"] == key
    never = blob_key(b"never uploaded by anyone")

    def naming(input_key: str) -> dict[str, Any]:
        manifest = quick("naming")
        del manifest["blobs"][manifest["nodes"][0]["value"]]
        manifest["nodes"][0]["value"] = input_key
        manifest["inputs"]["args"] = [input_key]
        return manifest

    before = len(users.json("bob-token", "GET", "dispatches?limit=1000")["dispatches"])
    status, error = refusal(users, "bob-token", "POST", "dispatches", naming(key))
    _, error_never = refusal(users, "bob-token", "POST", "dispatches", naming(never))
    assert status == 400 and error == error_never.replace(never, key)
    assert len(users.json("bob-token", "GET", "dispatches?limit=1000")["dispatches"]) == before
    # Alice names it; bob, once he has sent the same bytes himself, may too.
    users.dispatch("alice-token", naming(key))
    users.json("bob-token", "PUT", f"blobs/{key}", secret, expect=201)
    users.dispatch("bob-token", naming(key))


def test_scopes_and_per_user_idempotency_keys(users):
    assert users.json("dave-token", "GET", "dispatches")["dispatches"] == []
    assert refusal(users, "dave-token", "POST", "dispatches", quick())[0] == 403
    data = b"x" * 300_000
    assert refusal(users, "dave-token", "PUT", f"blobs/{blob_key(data)}", data)[0] == 403
    header = {"Idempotency-Key": "same-key-for-two-users"}
    first = users.json("alice-token", "POST", "dispatches", quick("idem-a"), expect=201, headers=header)
    second = users.json("bob-token", "POST", "dispatches", quick("idem-b"), expect=201, headers=header)
    assert first["dispatch_id"] != second["dispatch_id"]
    assert users.json("bob-token", "GET", f"dispatches/{second['dispatch_id']}")["name"] == "idem-b"
