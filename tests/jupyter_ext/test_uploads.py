"""Large uploads to the extension of a real Jupyter server: sent only after Jupyter's 100 Continue."""

from __future__ import annotations

import hashlib
import os
import urllib.parse
from typing import Iterator

import pytest

import covalent_nb as ct
from covalent_nb.client.http import DispatcherConnection

from .jupyter_process import JupyterServer, running_jupyter


@pytest.fixture(scope="module")
def jupyter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    with running_jupyter(tmp_path_factory.mktemp("jupyter_uploads"), ()) as server:
        yield server


def extension_connection(jupyter: JupyterServer, token: str) -> DispatcherConnection:
    """The client's connection to the extension's API, with ``token``."""
    url = urllib.parse.urlparse(jupyter.url)
    return DispatcherConnection(url.hostname or "127.0.0.1", url.port or 80, token, f"{url.path}covalent/")


def test_large_uploads_wait_for_jupyters_answer(jupyter: JupyterServer, early_statuses: list[int | None]) -> None:
    body = os.urandom(2 * 1024 * 1024)
    key = hashlib.sha256(body).hexdigest()
    extension_connection(jupyter, jupyter.token).put_blob(key, body)
    with pytest.raises(ct.AuthenticationError, match="not authenticated"):
        extension_connection(jupyter, "wrong").put_blob(key, body)
    assert early_statuses == [100, 403]  # the refusal came before the body
