"""Payload keys are 64 lowercase hex digits wherever they enter; nothing else reaches a file name.

Path-traversal keys ("xx/etc/hostname", "../../etc/hostname", ...) once went
from a manifest's fields to ``blobs/key[:2]/key[2:]`` and back out through
``POST dispatches/{id}/payloads``. They are tried here against a real server,
in every place a key enters; then the code is checked so that no other route
from a key to a path can appear unnoticed.
"""

from __future__ import annotations

import ast
import base64
import copy
import inspect
import json
import urllib.parse
from pathlib import Path
from typing import Any, Iterator

import pytest

import covalent_nb as ct
from covalent_nb.server import blobs as blobs_module
from covalent_nb.server.blobs import BlobStore, InvalidBlobKey
from covalent_nb.server.store import ResultStore
from covalent_nb.workflow import build_manifest
from tests.conftest import RunningServer
from tests.server.test_api import call, dispatch_count, post_payloads

SERVER_DIR = Path(blobs_module.__file__).parent


@ct.electron
def add_one(x):
    return x + 1


@ct.lattice
def flow(x):
    return add_one(x)


@pytest.fixture(scope="module")
def secret(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A file outside the data directory that no request may read."""
    path = tmp_path_factory.mktemp("outside") / "secret.txt"
    path.write_text("the secret that must not leak")
    return path


def attack_keys(secret: Path) -> list[Any]:
    """Keys that are not keys: traversals to real files, and near misses of the form."""
    good = "ab" * 32
    return [
        "xx/etc/hostname", "../../../../../../etc/hostname", "xx/proc/self/environ",
        "xx" + str(secret), "../" * 12 + str(secret).lstrip("/"),
        good.upper(), good[:-1], good + "0", good + "\n", " " + good[1:], good[:62] + "/x",
        "", 12345, None, ["list"],
    ]


def blob_files(server: RunningServer) -> set[Path]:
    """Every file under the server's blobs folder."""
    return {p for p in (server.data_dir / "blobs").rglob("*") if p.is_file()}


def inline_manifest() -> dict[str, Any]:
    """A valid manifest of ``flow(5)`` with every payload inline."""
    manifest, blobs = build_manifest(flow, (5,), {})
    manifest["blobs"] = {k: base64.b64encode(v).decode() for k, v in blobs.items()}
    return manifest


def key_fields(manifest: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """Each place a manifest names a payload: (description, a function that sets it)."""
    def setter(container: Any, index: Any) -> Any:
        def put(value: Any) -> None:
            container[index] = value
        return put

    yield "lattice blob", setter(manifest["lattice"], "blob")
    yield "input argument", setter(manifest["inputs"]["args"], 0)
    for node in manifest["nodes"]:
        field = "value" if node["kind"] == "parameter" else "function"
        yield f"node {node['id']} {field}", setter(node, field)
    yield "hooks", setter(manifest["nodes"][-1], "hooks")


def test_manifest_keys_that_are_not_keys_are_refused(server, secret):
    before_count, before_files = dispatch_count(server), blob_files(server)
    template = inline_manifest()
    refused = 0
    for bad in attack_keys(secret):
        for where, _ in key_fields(template):
            if where == "hooks" and bad is None:  # no hooks: allowed
                continue
            manifest = copy.deepcopy(template)
            dict(key_fields(manifest))[where](bad)
            status, body = call(server, "POST", "dispatches", json.dumps(manifest).encode())
            assert status == 400, (where, bad, status, body)
            assert "is not a payload key" in body["error"], body
            assert "must not leak" not in json.dumps(body)
            refused += 1
    assert refused > 60
    assert dispatch_count(server) == before_count
    assert blob_files(server) == before_files
    # inline blobs named by something else than their sha256 are refused too
    manifest = copy.deepcopy(template)
    manifest["blobs"]["xx/etc/hostname"] = base64.b64encode(b"x").decode()
    status, body = call(server, "POST", "dispatches", json.dumps(manifest).encode())
    assert status == 400 and "does not match its sha256" in body["error"]


def test_payload_requests_with_bad_keys_get_400(server, secret):
    dispatch_id = ct.dispatch(flow)(1)
    assert ct.get_result(dispatch_id, wait=True).result == 2
    for bad in attack_keys(secret):
        status, body = post_payloads(server, dispatch_id, json.dumps({"keys": [bad]}).encode())
        assert status == 400, (bad, status, body)
        assert "is not a payload key" in body["error"] or not isinstance(bad, str)
        if isinstance(bad, str) and bad:
            quoted = urllib.parse.quote(bad, safe="")   # a "/" in it still reaches the handler
            status, body = call(server, "GET", f"dispatches/{dispatch_id}/blobs/{quoted}")
            assert status == 400 and "is not a payload key" in body["error"], (bad, status, body)
            assert "must not leak" not in json.dumps(body)


def test_uploads_under_bad_keys_store_nothing(server, secret):
    before = blob_files(server)
    data = b"payload under a false name"
    for bad in attack_keys(secret):
        if not isinstance(bad, str) or not bad:
            continue
        status, body = call(server, "PUT", "blobs/" + urllib.parse.quote(bad, safe=""), data)
        assert status == 400 and "is not a payload key" in body["error"], (bad, status, body)
    assert blob_files(server) == before
    assert not (secret.parent / "xx").exists()


def test_only_put_uploads_and_no_method_leaves_a_temp_file(server):
    key = "cd" * 32
    for method in ("GET", "POST", "DELETE", "PATCH", "OPTIONS"):
        status, body = call(server, method, f"blobs/{key}", b"body" if method in ("POST", "PATCH") else None)
        assert status == 405, (method, status)
        assert "PUT" in body["error"]
    assert list((server.data_dir / "blobs" / "tmp").iterdir()) == []


# ---- the only route from a key to a path ------------------------------------------------------------

def test_every_store_method_taking_a_key_checks_it(tmp_path, secret):
    store = ResultStore(tmp_path / "data")
    blobs = store.blobs
    before = sorted(p for p in tmp_path.rglob("*"))
    checked = []
    for name, method in inspect.getmembers(blobs, inspect.ismethod):
        params = inspect.signature(method).parameters
        if name.startswith("_") or "key" not in params:
            continue
        extra = {"data": b"x" * 10, "limit": 100, "tmp_path": secret, "within": 60.0, "owner": "someone"}
        kwargs = {p: extra[p] for p in params if p != "key"}   # a new parameter must be added here
        for bad in attack_keys(secret):
            with pytest.raises(InvalidBlobKey):
                result = method(key=bad, **kwargs)
                if inspect.isgenerator(result):
                    next(result)
        checked.append(name)
    assert {"path_for", "file_path", "has", "size", "put", "get", "iter_chunks", "remove",
            "begin_upload", "adopt_file"} <= set(checked)
    assert sorted(p for p in tmp_path.rglob("*")) == before
    assert secret.read_text() == "the secret that must not leak"
    store.close()


def _key_path_code(path: Path) -> list[str]:
    """Places in a module that could build a file name from a payload key without ``path_for``:
    slices ``[:2]`` / ``[2:]`` (the layout), and uses of the blob store's ``root`` or ``tmp_dir``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Slice):
            bounds = [b.value for b in (node.lower, node.upper) if isinstance(b, ast.Constant)]
            if 2 in bounds:
                found.append(f"{path.name}:{node.lineno}: slice [{'' if node.lower is None else 2}:"
                             f"{'' if node.upper is None else 2}]")
        if isinstance(node, ast.Attribute) and node.attr in ("root", "tmp_dir") \
                and "blobs" in ast.unparse(node.value):
            found.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_no_other_server_code_turns_a_key_into_a_path():
    found = [place for module in sorted(SERVER_DIR.glob("*.py")) if module.name != "blobs.py"
             for place in _key_path_code(module)]
    # The one use allowed: the folder task runners spill outputs into (they name files by the
    # sha256 of the bytes they wrote, and the dispatcher checks it through path_for).
    allowed = [p for p in found if p.startswith("task_frames.py:") and p.endswith("self.store.blobs.root")]
    assert len(allowed) == 1, found
    assert [p for p in found if p not in allowed] == []
    # ... and the check itself sees what it looks for
    assert any("slice [:2]" in p for p in _key_path_code(SERVER_DIR / "blobs.py"))
