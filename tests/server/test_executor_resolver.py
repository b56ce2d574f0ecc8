"""ExecutorResolver without HTTP: completing specs from the server's config, describing executors."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from covalent_nb.errors import ExecutorError
from covalent_nb.executor import registry
from covalent_nb.server.executors import ExecutorResolver, mask_secrets
from covalent_nb.server.settings import ServerSettings

PLUGIN = '''\
from covalent_nb.executor.base import REQUIRED, BaseExecutor

class VaultExecutor(BaseExecutor):
    short_name = "vault"
    attributes = {"bucket": (str, REQUIRED), "vcpus": (int, 1), "api_key": ((str, type(None)), None)}

    def run(self, task_frame, parent_frames, task_metadata):
        return task_frame
'''


def install_vault(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Install the plugin 'vault' under ``tmp_path`` (on ``sys.path`` until the test ends)."""
    (tmp_path / "cnb_vault_plugin.py").write_text(PLUGIN)
    dist_info = tmp_path / "cnb_vault_plugin-0.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: cnb-vault-plugin\nVersion: 0.1\n")
    (dist_info / "entry_points.txt").write_text("[covalent_nb.executors]\nvault = cnb_vault_plugin:VaultExecutor\n")
    monkeypatch.syspath_prepend(str(tmp_path))


@pytest.fixture
def forget_plugins() -> Iterator[None]:
    """The registry forgets the plugins it found in the test."""
    yield
    registry._entry_points.cache_clear()
    registry.executor_class.cache_clear()


@pytest.fixture
def vault_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, forget_plugins: None) -> None:
    """An executor plugin 'vault' with a required setting, found through its entry point."""
    install_vault(tmp_path, monkeypatch)
    monkeypatch.setenv("COVALENT_NB_CONFIG_DIR", str(tmp_path / "config"))  # no client config here


def resolver(tmp_path: Path, **executors: dict) -> ExecutorResolver:
    return ExecutorResolver(ServerSettings(data_dir=tmp_path, executors=executors))


def test_server_side_name_is_completed_from_the_server_config(tmp_path, vault_installed):
    resolve = resolver(tmp_path, vault={"bucket": "central", "api_key": "k"}).resolve
    assert resolve({"name": "vault", "attrs": {}}) == {
        "name": "vault", "attrs": {"bucket": "central", "vcpus": 1, "api_key": "k"}}
    assert resolve({"name": "vault", "attrs": {"vcpus": 4}})["attrs"] == {"bucket": "central", "vcpus": 4,
                                                                       "api_key": "k"}


def test_a_fully_specified_spec_is_not_changed_by_the_server(tmp_path, vault_installed):
    spec = {"name": "vault", "attrs": {"bucket": "mine", "vcpus": 2, "api_key": None}}
    assert resolver(tmp_path, vault={"bucket": "central", "vcpus": 64, "api_key": "k"}).resolve(spec) == spec


def test_missing_required_setting_is_refused_naming_it(tmp_path, vault_installed):
    with pytest.raises(ExecutorError) as info:
        resolver(tmp_path).resolve({"name": "vault", "attrs": {"vcpus": 2}})
    message = str(info.value)
    assert "'vault'" in message and "'bucket'" in message and "[executors.vault]" in message


def test_wrong_types_and_unknown_settings_are_refused(tmp_path, vault_installed):
    with pytest.raises(ExecutorError, match="'vcpus'.*must be int"):
        resolver(tmp_path, vault={"bucket": "b"}).resolve({"name": "vault", "attrs": {"vcpus": "2"}})
    with pytest.raises(ExecutorError, match="'vcpus'.*server's config file.*must be int"):
        resolver(tmp_path, vault={"bucket": "b", "vcpus": "2"}).resolve({"name": "vault", "attrs": {}})
    with pytest.raises(ExecutorError, match="no setting 'gpus'"):
        resolver(tmp_path, vault={"bucket": "b"}).resolve({"name": "vault", "attrs": {"gpus": 1}})


def test_a_name_the_server_does_not_offer_is_kept_as_given(tmp_path):
    spec = {"name": "nope", "attrs": {"anything": [1, 2]}}
    kept = resolver(tmp_path, nope={"anything": "from config"}).resolve(spec)
    assert kept == spec and kept is not spec
    kept["attrs"]["anything"].append(3)
    assert spec["attrs"]["anything"] == [1, 2]


def test_unknown_names_and_what_is_offered(tmp_path):
    resolve = resolver(tmp_path)
    assert resolve.unknown_names(["dask", "local", "dask_typo", "lokal"]) == {"dask_typo", "lokal"}
    assert resolve.is_known("dask") and resolve.is_known("local") and not resolve.is_known("Dask")
    offered = resolve.offered()
    assert offered[0] == "dask" and offered[1:] == sorted(offered[1:]) and "local" in offered


def test_the_unknown_message_names_the_tasks_the_offer_and_a_close_name(tmp_path):
    resolve = resolver(tmp_path, vaultt={"region": "r"})
    offer = ", ".join(resolve.offered())
    assert resolve.unknown_message("dask_typo", [("square", 1)]) == (
        f"unknown executor 'dask_typo' on task 'square' (node 1); this server offers: {offer}; did you mean 'dask'?")
    assert resolve.unknown_message("quantum", [("a", 1), ("b", 2)]) == (
        f"unknown executor 'quantum' on tasks 'a' (node 1), 'b' (node 2); this server offers: {offer}")
    many = resolve.unknown_message("quantum", [(f"t{i}", i) for i in range(8)])
    assert "'t4' (node 4) and 3 more;" in many and "'t5'" not in many
    assert "has an [executors.vaultt] section, but no executor 'vaultt' is installed" in resolve.unknown_message(
        "vaultt", [("a", 1)])


def test_a_plugin_installed_while_the_server_runs_is_found(tmp_path, monkeypatch, forget_plugins):
    resolve = resolver(tmp_path)
    assert resolve.resolve({"name": "vault", "attrs": {"bucket": "b"}}) == {"name": "vault", "attrs": {"bucket": "b"}}
    assert not resolve.offers("vault")
    install_vault(tmp_path, monkeypatch)
    monkeypatch.setenv("COVALENT_NB_CONFIG_DIR", str(tmp_path / "config"))
    assert resolve.unknown_names(["vault", "dask"]) == set() and resolve.offers("vault")
    assert resolve.resolve({"name": "vault", "attrs": {"bucket": "b"}}) == {
        "name": "vault", "attrs": {"bucket": "b", "vcpus": 1, "api_key": None}}


def test_default_and_dask_specs(tmp_path):
    resolve = resolver(tmp_path, dask={"scheduler_address": "tcp://10.9.9.9:8786"}).resolve
    assert resolve(None) == {"name": "dask", "attrs": {}}
    assert resolve({"name": "dask", "attrs": {}}) == {"name": "dask", "attrs": {"scheduler_address": None}}
    with pytest.raises(ExecutorError, match="'scheduler_address'"):
        resolve({"name": "dask", "attrs": {"scheduler_address": 8786}})


def test_resolved_specs_are_copies(tmp_path):
    resolve = resolver(tmp_path, local={"workdir": "w"}).resolve
    first = resolve({"name": "local", "attrs": {}})
    first["attrs"]["workdir"] = "changed"
    assert resolve({"name": "local", "attrs": {}})["attrs"]["workdir"] == "w"


def test_describe_lists_and_masks(tmp_path, vault_installed):
    settings = ServerSettings(data_dir=tmp_path, workers=3,
                              executors={"vault": {"api_key": "AKIA"}, "ghost": {"password": "pw", "size": 2}})
    listing = ExecutorResolver(settings).describe()
    entries = {entry["name"]: entry for entry in listing["executors"]}
    assert listing["default"] == "dask" and listing["executors"][0]["name"] == "dask"
    assert entries["dask"]["settings"] == {"scheduler_address": "local cluster", "workers": 3}
    assert entries["vault"]["settings"] == {"bucket": None, "vcpus": 1, "api_key": "***"}
    assert entries["vault"]["missing"] == ["bucket"]
    assert entries["ghost"] == {"name": "ghost", "configured": True, "installed": False,
                                "settings": {"password": "***", "size": 2}, "error": entries["ghost"]["error"]}
    assert {"local", "vault", "ghost"} <= set(entries)


def test_describe_names_an_external_cluster(tmp_path):
    settings = ServerSettings(data_dir=tmp_path, scheduler_address="tcp://10.0.0.2:8786")
    assert ExecutorResolver(settings).describe()["executors"][0]["settings"] == {
        "scheduler_address": "tcp://10.0.0.2:8786"}


def test_mask_secrets_by_name():
    masked = mask_secrets({"AWS_SECRET": "x", "db_password": "x", "token": "x", "ssh_key_file": "x",
                           "credentials": {"a": 1}, "region": "r", "unset_token": None,
                           "inner": {"access_key_id": "x", "n": 1}})
    assert masked == {"AWS_SECRET": "***", "db_password": "***", "token": "***", "ssh_key_file": "***",
                      "credentials": "***", "region": "r", "unset_token": None,
                      "inner": {"access_key_id": "***", "n": 1}}
