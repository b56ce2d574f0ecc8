"""Tests of covalent_nb._config: the config file, state directory, addresses and tokens."""

from __future__ import annotations

import stat
import tomllib
import warnings
from pathlib import Path

import pytest

from covalent_nb import _config
from covalent_nb.errors import ConfigError


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the config and data directories into tmp_path; no token in the environment."""
    monkeypatch.setenv("COVALENT_NB_CONFIG_DIR", str(tmp_path / "conf"))
    monkeypatch.setenv("COVALENT_NB_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("COVALENT_NB_TOKEN", raising=False)
    _config.reload_config()
    return tmp_path


def write_config(text: str) -> Path:
    path = _config.config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------- reading


def test_missing_file_means_defaults(tmp_path: Path) -> None:
    assert _config.config_path() == tmp_path / "conf" / "covalent.conf"
    assert not _config.config_path().exists()
    assert _config.get_config() == _config.DEFAULTS
    assert _config.get_config("dispatcher.port") == 48008
    assert _config.get_config("dispatcher.address") == "localhost"
    assert _config.get_config("server") == {"workers": 0, "max_payload_mb": 512, "data_dir": "",
                                            "cluster_start": "eager", "cluster_idle_minutes": 30.0,
                                            "keep_days": 0.0, "session_days": 7.0}


def test_empty_file_means_defaults() -> None:
    write_config("")
    assert _config.reload_config() == _config.DEFAULTS


def test_file_values_overlay_defaults() -> None:
    write_config('[dispatcher]\nport = 49000\n\n[executors.dask]\nn_workers = 2\n')
    _config.reload_config()
    assert _config.get_config("dispatcher.port") == 49000
    assert _config.get_config("dispatcher.address") == "localhost"
    assert _config.get_config("executors.dask") == {"n_workers": 2}


def test_unknown_key_raises_key_error_naming_it() -> None:
    with pytest.raises(KeyError, match="dispatcher.nope"):
        _config.get_config("dispatcher.nope")
    with pytest.raises(KeyError, match="nosuchsection"):
        _config.get_config("nosuchsection")


def test_unknown_key_lists_what_is_there_and_the_close_name() -> None:
    with pytest.raises(KeyError) as caught:
        _config.get_config("dispatcher.prot")
    assert caught.value.args[0] == ("no config key 'dispatcher.prot'; the [dispatcher] section has: "
                                    "address, port, token; did you mean 'port'?")
    with pytest.raises(KeyError) as caught:
        _config.get_config("dispacher.port")
    assert caught.value.args[0] == (f"no config key 'dispacher.port'; known sections: {', '.join(_config.DEFAULTS)}; "
                                    "did you mean 'dispatcher'?")
    with pytest.raises(KeyError) as caught:
        _config.get_config("dispatcher.port.x")
    assert caught.value.args[0] == "no config key 'dispatcher.port.x': 'dispatcher.port' is a value, not a section"


def test_returned_config_is_a_copy() -> None:
    _config.get_config()["dispatcher"]["port"] = 1
    _config.get_config("dispatcher")["port"] = 2
    assert _config.get_config("dispatcher.port") == 48008


def test_malformed_file_names_the_file() -> None:
    path = write_config("[dispatcher\nport = ")
    with pytest.raises(ConfigError, match=str(path)):
        _config.reload_config()


def test_bad_value_in_file_names_the_file_and_key() -> None:
    path = write_config('[dispatcher]\nport = "not-a-port"\n')
    with pytest.raises(ConfigError) as caught:
        _config.reload_config()
    assert str(path) in str(caught.value) and "dispatcher.port" in str(caught.value)


def test_value_where_a_section_belongs_is_an_error() -> None:
    write_config('dispatcher = "localhost"\n')
    with pytest.raises(ConfigError, match="dispatcher"):
        _config.reload_config()


def test_numeric_string_in_file_is_read_as_number() -> None:
    write_config('[dispatcher]\nport = "48100"\n')
    assert _config.reload_config()["dispatcher"]["port"] == 48100


def test_hand_edits_are_seen_without_reload() -> None:
    write_config("[dispatcher]\nport = 40001\n")
    assert _config.get_config("dispatcher.port") == 40001
    write_config("[dispatcher]\nport = 40002\naddress = 'example.org'\n")
    assert _config.get_config("dispatcher.port") == 40002


# ---------------------------------------------------------------- writing


def test_set_config_writes_toml_that_survives_reload() -> None:
    _config.set_config({"dispatcher.address": "10.1.2.3", "dispatcher.port": 48123})
    on_disk = tomllib.loads(_config.config_path().read_text(encoding="utf-8"))
    assert on_disk == {"dispatcher": {"address": "10.1.2.3", "port": 48123}}
    assert _config.reload_config()["dispatcher"] == {"address": "10.1.2.3", "port": 48123, "token": ""}


def test_set_config_converts_a_port_string_to_int() -> None:
    _config.set_config({"dispatcher.port": "48009"})
    assert _config.get_config("dispatcher.port") == 48009
    assert 'port = 48009' in _config.config_path().read_text(encoding="utf-8")


@pytest.mark.parametrize("bad", ["abc", "48.5", "", True, 0, 70000])
def test_set_config_rejects_a_bad_port_and_writes_nothing(bad: object) -> None:
    with pytest.raises(ValueError, match="dispatcher.port"):
        _config.set_config({"dispatcher.address": "elsewhere", "dispatcher.port": bad})
    assert not _config.config_path().exists()
    assert _config.get_config("dispatcher.address") == "localhost"


def test_set_config_accepts_nested_dicts_and_key_value_form() -> None:
    _config.set_config({"server": {"workers": 3}, "executors.local": {}})
    _config.set_config("executors.dask", {"n_workers": 2, "threads": "1"})
    _config.set_config("dask.scheduler_address", "tcp://10.0.0.9:8786")
    conf = _config.reload_config()
    assert conf["server"]["workers"] == 3
    assert conf["executors"] == {"local": {}, "dask": {"n_workers": 2, "threads": "1"}}
    assert conf["dask"]["scheduler_address"] == "tcp://10.0.0.9:8786"


def test_set_config_keeps_what_the_file_already_had() -> None:
    write_config("[dispatcher]\ntoken = 'abc'\n\n[executors.awsbatch]\nvcpus = 2\n")
    _config.set_config({"dispatcher.port": 48500})
    conf = _config.get_config()
    assert conf["dispatcher"] == {"address": "localhost", "port": 48500, "token": "abc"}
    assert conf["executors"]["awsbatch"] == {"vcpus": 2}


@pytest.mark.parametrize(
    "updates",
    [
        {"dispatcher": 5},
        {"dispatcher.port.inner": 1},
        {"server.workers": -1},
        {"dispatcher.address": 12},
        {"a..b": 1},
        {"dispatcher.token": None},
    ],
)
def test_set_config_rejects_invalid_updates(updates: dict) -> None:
    with pytest.raises(ConfigError):
        _config.set_config(updates)
    assert not _config.config_path().exists()


def test_set_config_refuses_a_key_its_section_does_not_have() -> None:
    with pytest.raises(ConfigError) as caught:
        _config.set_config({"dispatcher.address": "elsewhere", "dispatcher.prot": 48009})
    assert str(caught.value) == ("no config key 'dispatcher.prot' to set; the [dispatcher] section has: "
                                 "address, port, token; did you mean 'port'?")
    assert not _config.config_path().exists()


def test_set_config_warns_of_a_section_close_to_a_known_one_and_writes_it() -> None:
    with pytest.warns(UserWarning, match="reads no config section 'dispacher'.*did you mean 'dispatcher'") as caught:
        _config.set_config("dispacher.port", 48009)
    assert caught[0].filename == __file__
    assert _config.get_config("dispacher.port") == 48009  # other sections are free, as in Covalent
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing close to 'sdk': no warning
        _config.set_config("sdk.log_level", "debug")
    assert _config.get_config("sdk.log_level") == "debug"


def test_config_file_is_private() -> None:
    _config.set_config({"dispatcher.token": "secret"})
    mode = stat.S_IMODE(_config.config_path().stat().st_mode)
    assert mode & 0o077 == 0


# ---------------------------------------------------------------- locations


def test_default_locations_follow_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("COVALENT_NB_CONFIG_DIR", "COVALENT_NB_DATA_DIR", "XDG_CONFIG_HOME", "XDG_DATA_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert _config.config_path() == tmp_path / "home" / ".config" / "covalent_nb" / "covalent.conf"
    assert _config.data_dir() == tmp_path / "home" / ".local" / "share" / "covalent_nb"


def test_data_dir_env_wins_over_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _config.set_config({"server.data_dir": str(tmp_path / "from-config")})
    assert _config.data_dir() == tmp_path / "data"
    monkeypatch.delenv("COVALENT_NB_DATA_DIR")
    assert _config.data_dir() == tmp_path / "from-config"


def test_server_state_paths_and_token_path(tmp_path: Path) -> None:
    paths = _config.server_state_paths()
    root = tmp_path / "data"
    assert paths.root == root
    assert (paths.pid_file, paths.info_file, paths.log_file) == (
        root / "server.pid", root / "server.json", root / "server.log")
    assert (paths.token_file, paths.results_db, paths.blobs_dir) == (
        root / "server.token", root / "results.db", root / "blobs")
    assert _config.token_path() == root / "server.token"


# ---------------------------------------------------------------- addresses


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("example.org:9000", ("example.org", 9000)),
        ("http://10.0.0.5:48009", ("10.0.0.5", 48009)),
        ("https://host.example:443/", ("host.example", 443)),
        ("[::1]:48010", ("::1", 48010)),
        ("http://[fe80::1]:7", ("fe80::1", 7)),
        ("justahost", ("justahost", 48008)),
        ("::1", ("::1", 48008)),
        ("  spaced:1234 ", ("spaced", 1234)),
    ],
)
def test_dispatcher_address_parses_explicit_forms(text: str, expected: tuple[str, int]) -> None:
    assert _config.dispatcher_address(text) == expected


@pytest.mark.parametrize(
    "text",
    ["host:abc", "host:0", "host:70000", "ftp://host:21", "host:1/path", "[::1", "a b:1", ":48008", "host:"],
)
def test_malformed_address_raises_value_error_with_example(text: str) -> None:
    with pytest.raises(ValueError, match="e.g.") as caught:
        _config.dispatcher_address(text)
    assert repr(text.strip()) in str(caught.value) or repr(text) in str(caught.value)


def test_dispatcher_address_falls_back_to_config() -> None:
    assert _config.dispatcher_address() == ("localhost", 48008)
    _config.set_config({"dispatcher.address": "remote.example", "dispatcher.port": 48111})
    assert _config.dispatcher_address() == ("remote.example", 48111)
    assert _config.dispatcher_address("other:1") == ("other", 1)
    assert _config.dispatcher_address("other") == ("other", 48111)


def test_config_address_may_be_a_url() -> None:
    _config.set_config({"dispatcher.address": "http://remote.example:5000"})
    assert _config.dispatcher_address() == ("remote.example", 5000)


def test_dispatcher_url_brackets_ipv6_and_keeps_https() -> None:
    assert _config.dispatcher_url() == "http://localhost:48008"
    assert _config.dispatcher_url("[::1]:5") == "http://[::1]:5"
    assert _config.dispatcher_url("https://h.example:8443/") == "https://h.example:8443"


# ---------------------------------------------------------------- tokens


def test_client_token_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert _config.client_token() is None
    token_file = _config.token_path()
    token_file.parent.mkdir(parents=True)
    token_file.write_text("from-file\n", encoding="utf-8")
    assert _config.client_token() == "from-file"
    _config.set_config({"dispatcher.token": "from-config"})
    assert _config.client_token() == "from-config"
    monkeypatch.setenv("COVALENT_NB_TOKEN", "from-env")
    assert _config.client_token() == "from-env"
    monkeypatch.setenv("COVALENT_NB_TOKEN", "")
    assert _config.client_token() == "from-config"


def test_unreadable_token_file_means_no_token() -> None:
    token_path = _config.token_path()
    token_path.mkdir(parents=True)  # a directory cannot be read as a file, even by root
    assert _config.client_token() is None


def test_empty_token_file_means_no_token() -> None:
    token_file = _config.token_path()
    token_file.parent.mkdir(parents=True)
    token_file.write_text("\n", encoding="utf-8")
    assert _config.client_token() is None


def test_malformed_config_address_names_the_config_file() -> None:
    path = write_config('[dispatcher]\naddress = "bad host:1"\n')
    with pytest.raises(ValueError, match="dispatcher.address") as caught:
        _config.dispatcher_address()
    assert str(path) in str(caught.value)
