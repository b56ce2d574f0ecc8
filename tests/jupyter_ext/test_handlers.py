"""The extension's handlers and auth, in-process with pytest-jupyter (a real ServerApp, no subprocess)."""

from __future__ import annotations

import base64
import json

import pytest
from jupyter_server.auth import Authorizer
from tornado.httpclient import HTTPClientError

import covalent_nb as ct
from covalent_nb.workflow import build_manifest


class DenyCovalent(Authorizer):
    """Allows everything but the 'covalent' resource."""

    def is_authorized(self, handler, user, action, resource):  # type: ignore[override]
        return resource != "covalent"


@pytest.fixture
def jp_server_config(tmp_path):
    return {"ServerApp": {"jpserver_extensions": {"covalent_nb.jupyter_ext": True}},
            "CovalentNB": {"data_dir": str(tmp_path / "covalent"), "workers": 1}}


@ct.electron
def double(x):
    return 2 * x


@ct.lattice
def flow(x):
    return double(x)


def manifest_body(x: int) -> bytes:
    manifest, blobs = build_manifest(flow, (x,), {})
    manifest["blobs"] = {key: base64.b64encode(data).decode() for key, data in blobs.items()}
    return json.dumps(manifest).encode()


async def test_health_with_the_server_token(jp_fetch):
    response = await jp_fetch("covalent", "api", "v1", "health")
    assert response.code == 200
    assert json.loads(response.body)["status"] == "ok"


async def test_requests_without_jupyter_auth_get_403(jp_fetch):
    for method, path, body in [("GET", ("covalent", "api", "v1", "health"), None),
                               ("GET", ("covalent", "api", "v1", "dispatches"), None),
                               ("POST", ("covalent", "api", "v1", "dispatches"), b"{}")]:
        with pytest.raises(HTTPClientError) as info:
            await jp_fetch(*path, method=method, body=body, headers={"Authorization": "token wrong"})
        assert info.value.code == 403, (method, path)
        # GETs are refused by our check, a POST by Jupyter's XSRF check; both say why
        message = json.loads(info.value.response.body)["error"]
        assert "not authenticated" in message and "_xsrf" not in message, (method, message)
    # A caller with no token at all (a browser with a cookie) keeps Jupyter's XSRF answer.
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch("covalent", "api", "v1", "dispatches", method="POST", body=b"{}",
                       headers={"Authorization": ""})
    assert info.value.code == 403 and "_xsrf" in json.loads(info.value.response.body)["error"]


async def test_a_dispatch_through_the_extension(jp_fetch, jp_serverapp):
    created = await jp_fetch("covalent", "api", "v1", "dispatches", method="POST", body=manifest_body(21))
    assert created.code == 201
    dispatch_id = json.loads(created.body)["dispatch_id"]
    extension = jp_serverapp.extension_manager.extension_points["covalent_nb"].app
    assert extension.current_activity() == {"running_dispatches": 1}   # busy while it runs
    done = await jp_fetch("covalent", "api", "v1", "dispatches", dispatch_id, "wait",
                          params={"timeout": "60"}, request_timeout=90)
    view = json.loads(done.body)
    assert view["status"] == "COMPLETED", view["error"]
    assert extension.current_activity() is None
    output = ct._serialize.loads(base64.b64decode(view["blobs"][view["output_key"]]))
    assert output == 42
    listed = json.loads((await jp_fetch("covalent", "api", "v1", "dispatches")).body)
    assert [d["id"] for d in listed["dispatches"]] == [dispatch_id]
    activity = jp_serverapp.web_app.settings["covalent_nb_last_activity"]
    assert jp_serverapp.web_app.last_activity() >= activity


async def test_malformed_request_is_a_json_400(jp_fetch):
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch("covalent", "api", "v1", "dispatches", method="POST", body=b"{nope")
    assert info.value.code == 400
    assert "JSON" in json.loads(info.value.response.body)["error"]


class TestAuthorizer:
    """Jupyter's authorizer decides: denying the 'covalent' resource closes the API."""

    @pytest.fixture
    def jp_server_config(self, tmp_path):
        return {"ServerApp": {"jpserver_extensions": {"covalent_nb.jupyter_ext": True},
                              "authorizer_class": DenyCovalent},
                "CovalentNB": {"data_dir": str(tmp_path / "covalent"), "workers": 1}}

    async def test_denied_resource_is_403_even_with_the_token(self, jp_fetch):
        with pytest.raises(HTTPClientError) as info:
            await jp_fetch("covalent", "api", "v1", "dispatches")
        assert info.value.code == 403
        status = await jp_fetch("api", "status")   # the rest of the server still answers
        assert status.code == 200


class TestRemoteMode:
    """Remote mode mounts nothing locally."""

    @pytest.fixture
    def jp_server_config(self, tmp_path):
        return {"ServerApp": {"jpserver_extensions": {"covalent_nb.jupyter_ext": True}},
                "CovalentNB": {"dispatcher_url": "http://127.0.0.1:9/", "dispatcher_token": "t"}}

    async def test_no_local_api(self, jp_fetch, jp_serverapp):
        with pytest.raises(HTTPClientError) as info:
            await jp_fetch("covalent", "api", "v1", "health")
        assert info.value.code == 404
        extension = jp_serverapp.extension_manager.extension_points["covalent_nb"].app
        assert extension.service is None and extension.remote


@ct.electron
def slow(x):
    import time
    time.sleep(30)
    return x


@ct.lattice
def slow_flow(x):
    return slow(x)


def slow_body() -> bytes:
    manifest, blobs = build_manifest(slow_flow, (1,), {})
    manifest["blobs"] = {key: base64.b64encode(data).decode() for key, data in blobs.items()}
    return json.dumps(manifest).encode()


def stored_status(data_dir, dispatch_id: str) -> str:
    import sqlite3
    db = sqlite3.connect(f"file:{data_dir / 'results.db'}?mode=ro", uri=True)
    try:
        return db.execute("SELECT status FROM dispatches WHERE id=?", (dispatch_id,)).fetchone()[0]
    finally:
        db.close()


class TestShutdownCancel:
    """shutdown_policy='cancel': stopping the server cancels running dispatches (and the cluster goes)."""

    @pytest.fixture
    def jp_server_config(self, tmp_path):
        return {"ServerApp": {"jpserver_extensions": {"covalent_nb.jupyter_ext": True}},
                "CovalentNB": {"data_dir": str(tmp_path / "covalent"), "workers": 1,
                               "shutdown_policy": "cancel"}}

    async def test_running_dispatch_is_cancelled(self, jp_fetch, jp_serverapp, tmp_path):
        created = await jp_fetch("covalent", "api", "v1", "dispatches", method="POST", body=slow_body())
        dispatch_id = json.loads(created.body)["dispatch_id"]
        extension = jp_serverapp.extension_manager.extension_points["covalent_nb"].app
        await extension.stop_extension()
        assert extension.service is None
        assert stored_status(tmp_path / "covalent", dispatch_id) == "CANCELLED"


class TestShutdownResume:
    """The default 'resume': stopping leaves the dispatch stored as running, for the next start."""

    @pytest.fixture
    def jp_server_config(self, tmp_path):
        return {"ServerApp": {"jpserver_extensions": {"covalent_nb.jupyter_ext": True}},
                "CovalentNB": {"data_dir": str(tmp_path / "covalent"), "workers": 1}}

    async def test_running_dispatch_is_kept(self, jp_fetch, jp_serverapp, tmp_path):
        created = await jp_fetch("covalent", "api", "v1", "dispatches", method="POST", body=slow_body())
        dispatch_id = json.loads(created.body)["dispatch_id"]
        extension = jp_serverapp.extension_manager.extension_points["covalent_nb"].app
        await extension.stop_extension()
        assert stored_status(tmp_path / "covalent", dispatch_id) == "RUNNING"
