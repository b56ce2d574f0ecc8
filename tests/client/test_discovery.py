"""The order in which a client finds its dispatcher, and how the address's origin shows in errors.

Discovery itself needs no server. The "cannot reach" tests connect for real
to a loopback port that nothing listens on.
"""

from __future__ import annotations

import pytest

from covalent_nb import _config
from covalent_nb.client.connect import connection
from covalent_nb.client.discovery import locate_dispatcher
from covalent_nb.errors import DispatcherUnreachableError
from tests.conftest import free_port

EXTENSION_URL = "http://127.0.0.1:8888/covalent/"


@pytest.fixture(autouse=True)
def clean_env(tmp_path, monkeypatch):
    monkeypatch.setenv("COVALENT_NB_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("COVALENT_NB_DATA_DIR", str(tmp_path / "data"))
    for name in ("COVALENT_NB_TOKEN", "COVALENT_NB_DISPATCHER_URL", "COVALENT_NB_DISPATCHER_TOKEN",
                 "COVALENT_NB_DISPATCHER_SOURCE", "COVALENT_NB_HUB_URL", "JUPYTERHUB_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    _config.reload_config()
    yield
    _config.reload_config()


def write_config_file(text: str) -> None:
    """The config file as another process (or an editor) leaves it: not this process's set_config."""
    path = _config.config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def in_jupyter_kernel(monkeypatch, source: str | None = None) -> None:
    monkeypatch.setenv("COVALENT_NB_DISPATCHER_URL", EXTENSION_URL)
    monkeypatch.setenv("COVALENT_NB_DISPATCHER_TOKEN", "jupyter-token")
    if source:
        monkeypatch.setenv("COVALENT_NB_DISPATCHER_SOURCE", source)


def test_defaults_without_anything():
    where = locate_dispatcher()
    assert (where.host, where.port, where.prefix, where.kind) == ("localhost", 48008, "/", "default")
    assert where.source.startswith("the default address (no dispatcher_addr, ct.set_config, Jupyter")


def test_extension_environment_is_used_by_kernels(monkeypatch):
    monkeypatch.setenv("COVALENT_NB_DISPATCHER_URL", "http://127.0.0.1:8888/lab/covalent/")
    monkeypatch.setenv("COVALENT_NB_DISPATCHER_TOKEN", "jupyter-token")
    monkeypatch.setenv("COVALENT_NB_TOKEN", "standalone-token")
    where = locate_dispatcher()
    assert (where.host, where.port, where.prefix, where.token) == ("127.0.0.1", 8888, "/lab/covalent/", "jupyter-token")
    assert where.url == "http://127.0.0.1:8888/lab/covalent/"
    assert (where.kind, where.source) == ("extension", "the Jupyter server extension")


def test_the_extension_says_which_dispatcher_it_handed(monkeypatch):
    in_jupyter_kernel(monkeypatch, "the Jupyter server extension: the dispatcher that holds /data (process 7)")
    assert locate_dispatcher().source == "the Jupyter server extension: the dispatcher that holds /data (process 7)"


def test_the_extension_wins_over_an_address_only_in_the_config_file(monkeypatch):
    write_config_file('[dispatcher]\naddress = "10.1.2.3"\nport = 5000\ntoken = "cfg"\n')
    in_jupyter_kernel(monkeypatch)
    where = locate_dispatcher()
    assert (where.url, where.token, where.kind) == (EXTENSION_URL, "jupyter-token", "extension")


def test_set_config_in_this_process_wins_over_the_extension(monkeypatch):
    write_config_file('[dispatcher]\naddress = "10.9.9.9"\n')
    in_jupyter_kernel(monkeypatch)
    _config.set_config({"dispatcher.address": "10.1.2.3", "dispatcher.port": 5000, "dispatcher.token": "cfg"})
    where = locate_dispatcher()
    assert (where.host, where.port, where.prefix, where.token, where.kind) == ("10.1.2.3", 5000, "/", "cfg",
                                                                             "set_config")
    assert where.source == (f"the config file {_config.config_path()}, set by ct.set_config in this process, "
                            "which wins over the Jupyter server extension's dispatcher")


def test_set_config_of_the_port_alone_also_wins(monkeypatch):
    in_jupyter_kernel(monkeypatch)
    _config.set_config("dispatcher", {"port": 5001})
    assert (locate_dispatcher().host, locate_dispatcher().port) == ("localhost", 5001)


def test_set_config_of_other_keys_leaves_the_extension_in_charge(monkeypatch):
    write_config_file('[dispatcher]\naddress = "10.1.2.3"\n')
    in_jupyter_kernel(monkeypatch)
    _config.set_config({"dispatcher.token": "cfg", "server.workers": 2})
    assert locate_dispatcher().url == EXTENSION_URL


def test_set_config_counts_for_the_config_file_it_wrote(tmp_path, monkeypatch):
    _config.set_config({"dispatcher.address": "10.1.2.3"})
    assert locate_dispatcher().kind == "set_config"
    monkeypatch.setenv("COVALENT_NB_CONFIG_DIR", str(tmp_path / "other_config"))
    write_config_file('[dispatcher]\naddress = "10.4.5.6"\n')
    in_jupyter_kernel(monkeypatch)
    assert locate_dispatcher().url == EXTENSION_URL  # this process set nothing in that file


def test_config_file_names_its_path_and_keys():
    write_config_file('[dispatcher]\nport = 5002\n')
    where = locate_dispatcher()
    assert (where.port, where.kind) == (5002, "config_file")
    assert where.source == f"the config file {_config.config_path()} (it sets dispatcher.port)"


def test_dispatcher_addr_wins_over_everything(monkeypatch):
    in_jupyter_kernel(monkeypatch)
    _config.set_config({"dispatcher.address": "10.1.2.3"})
    where = locate_dispatcher("example.org:9000")
    assert (where.host, where.port, where.kind) == ("example.org", 9000, "argument")
    assert where.source == "dispatcher_addr='example.org:9000' (given to the call)"
    remote = locate_dispatcher("http://hub.example:8000/user/ada/covalent")
    assert (remote.host, remote.port, remote.prefix) == ("hub.example", 8000, "/user/ada/covalent/")


def test_jupyterhub_after_the_extension_and_before_the_config_file(monkeypatch):
    write_config_file('[dispatcher]\naddress = "10.1.2.3"\n')
    monkeypatch.setenv("COVALENT_NB_HUB_URL", "http://127.0.0.1:8000/services/covalent-nb/")
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "hub-token")
    where = locate_dispatcher()
    assert (where.prefix, where.token, where.kind) == ("/services/covalent-nb/", "hub-token", "hub")
    assert where.source == "JupyterHub (COVALENT_NB_HUB_URL in the spawner's environment)"
    in_jupyter_kernel(monkeypatch)
    assert locate_dispatcher().kind == "extension"


def test_bad_url_is_named(monkeypatch):
    monkeypatch.setenv("COVALENT_NB_DISPATCHER_URL", "ftp://nowhere/")
    with pytest.raises(ValueError, match="not an http URL"):
        locate_dispatcher()


def unreachable_message(dispatcher_addr: str | None = None) -> str:
    with pytest.raises(DispatcherUnreachableError) as caught:
        connection(dispatcher_addr).get_json("health", timeout=5)
    return str(caught.value)


def test_cannot_reach_names_the_argument():
    port = free_port()
    message = unreachable_message(f"127.0.0.1:{port}")
    assert message.startswith(f"no covalent-nb dispatcher answers at http://127.0.0.1:{port}/ (")
    assert f"The address came from dispatcher_addr='127.0.0.1:{port}' (given to the call)." in message


def test_cannot_reach_names_set_config():
    _config.set_config({"dispatcher.address": "127.0.0.1", "dispatcher.port": free_port()})
    message = unreachable_message()
    assert f"came from the config file {_config.config_path()}, set by ct.set_config in this process." in message
    assert "or ct.set_config another 'dispatcher.address'" in message


def test_cannot_reach_names_the_extension(monkeypatch):
    monkeypatch.setenv("COVALENT_NB_DISPATCHER_URL", f"http://127.0.0.1:{free_port()}/covalent/")
    monkeypatch.setenv("COVALENT_NB_DISPATCHER_SOURCE", "the Jupyter server extension (the dispatcher inside "
                                                        "this Jupyter server)")
    message = unreachable_message()
    assert "came from the Jupyter server extension (the dispatcher inside this Jupyter server)." in message
    assert "The Jupyter server's dispatcher does not answer: its log says why" in message


def test_cannot_reach_names_the_config_file_and_its_path():
    write_config_file(f'[dispatcher]\naddress = "127.0.0.1"\nport = {free_port()}\n')
    message = unreachable_message()
    assert (f"came from the config file {_config.config_path()} (it sets dispatcher.address and "
            "dispatcher.port).") in message


def test_cannot_reach_names_jupyterhub(monkeypatch):
    monkeypatch.setenv("COVALENT_NB_HUB_URL", f"http://127.0.0.1:{free_port()}/services/covalent-nb/")
    message = unreachable_message()
    assert "came from JupyterHub (COVALENT_NB_HUB_URL in the spawner's environment)." in message
    assert "ask the Hub's administrator" in message

