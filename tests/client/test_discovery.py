"""The order in which a client finds its dispatcher (no server needed)."""

from __future__ import annotations

import pytest

from covalent_nb import _config
from covalent_nb.client.discovery import locate_dispatcher


@pytest.fixture(autouse=True)
def clean_env(tmp_path, monkeypatch):
    monkeypatch.setenv("COVALENT_NB_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("COVALENT_NB_DATA_DIR", str(tmp_path / "data"))
    for name in ("COVALENT_NB_TOKEN", "COVALENT_NB_DISPATCHER_URL", "COVALENT_NB_DISPATCHER_TOKEN",
                 "COVALENT_NB_HUB_URL", "JUPYTERHUB_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    _config.reload_config()
    yield
    _config.reload_config()


def test_defaults_without_anything():
    where = locate_dispatcher()
    assert (where.host, where.port, where.prefix) == ("localhost", 48008, "/")
    assert where.source == "the default address"


def test_extension_environment_is_used_by_kernels(monkeypatch):
    monkeypatch.setenv("COVALENT_NB_DISPATCHER_URL", "http://127.0.0.1:8888/lab/covalent/")
    monkeypatch.setenv("COVALENT_NB_DISPATCHER_TOKEN", "jupyter-token")
    monkeypatch.setenv("COVALENT_NB_TOKEN", "standalone-token")
    where = locate_dispatcher()
    assert (where.host, where.port, where.prefix, where.token) == ("127.0.0.1", 8888, "/lab/covalent/", "jupyter-token")
    assert where.url == "http://127.0.0.1:8888/lab/covalent/"


def test_explicit_config_wins_over_the_extension(monkeypatch):
    monkeypatch.setenv("COVALENT_NB_DISPATCHER_URL", "http://127.0.0.1:8888/covalent/")
    monkeypatch.setenv("COVALENT_NB_DISPATCHER_TOKEN", "jupyter-token")
    _config.set_config({"dispatcher.address": "10.1.2.3", "dispatcher.port": 5000, "dispatcher.token": "cfg"})
    where = locate_dispatcher()
    assert (where.host, where.port, where.prefix, where.token) == ("10.1.2.3", 5000, "/", "cfg")


def test_dispatcher_addr_wins_over_everything(monkeypatch):
    monkeypatch.setenv("COVALENT_NB_DISPATCHER_URL", "http://127.0.0.1:8888/covalent/")
    _config.set_config({"dispatcher.address": "10.1.2.3"})
    assert (locate_dispatcher("example.org:9000").host, locate_dispatcher("example.org:9000").port) == ("example.org", 9000)
    remote = locate_dispatcher("http://hub.example:8000/user/ada/covalent")
    assert (remote.host, remote.port, remote.prefix) == ("hub.example", 8000, "/user/ada/covalent/")


def test_jupyterhub_environment_after_the_extension(monkeypatch):
    monkeypatch.setenv("COVALENT_NB_HUB_URL", "http://127.0.0.1:8000/services/covalent-nb/")
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "hub-token")
    where = locate_dispatcher()
    assert (where.prefix, where.token, where.source) == ("/services/covalent-nb/", "hub-token", "JupyterHub")
    monkeypatch.setenv("COVALENT_NB_DISPATCHER_URL", "http://127.0.0.1:8888/covalent/")
    assert locate_dispatcher().source == "the Jupyter server extension"


def test_bad_url_is_named(monkeypatch):
    monkeypatch.setenv("COVALENT_NB_DISPATCHER_URL", "ftp://nowhere/")
    with pytest.raises(ValueError, match="not an http URL"):
        locate_dispatcher()
