"""ServerSettings.from_config: the [server] section's cluster settings, their defaults and their checks."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from covalent_nb import _config
from covalent_nb.errors import ConfigError
from covalent_nb.server.settings import ServerSettings


@pytest.fixture(autouse=True)
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A config file of its own for each test (not written yet)."""
    monkeypatch.setenv("COVALENT_NB_CONFIG_DIR", str(tmp_path / "conf"))
    monkeypatch.setenv("COVALENT_NB_DATA_DIR", str(tmp_path / "data"))
    _config.reload_config()
    yield _config.config_path()
    _config.reload_config()


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    _config.reload_config()


def test_defaults_start_the_cluster_eagerly_and_close_it_after_30_idle_minutes() -> None:
    settings = ServerSettings.from_config()
    assert (settings.cluster_start, settings.cluster_idle_minutes) == ("eager", 30.0)


def test_the_config_file_sets_both_fractions_of_minutes_included(config_file: Path) -> None:
    write(config_file, '[server]\ncluster_start = "lazy"\ncluster_idle_minutes = 0.5\n')
    settings = ServerSettings.from_config()
    assert (settings.cluster_start, settings.cluster_idle_minutes) == ("lazy", 0.5)
    write(config_file, "[server]\ncluster_idle_minutes = 0\n")
    assert ServerSettings.from_config().cluster_idle_minutes == 0.0


def test_explicit_values_win_over_the_file_and_none_keeps_it(config_file: Path) -> None:
    write(config_file, '[server]\ncluster_start = "lazy"\ncluster_idle_minutes = 5\n')
    settings = ServerSettings.from_config(cluster_start="eager", cluster_idle_minutes=None)
    assert (settings.cluster_start, settings.cluster_idle_minutes) == ("eager", 5.0)


@pytest.mark.parametrize("line, named", [
    ('cluster_start = "sometimes"', "server.cluster_start must be 'eager' or 'lazy'"),
    ("cluster_idle_minutes = -1", "server.cluster_idle_minutes must be a number of minutes"),
    ('cluster_idle_minutes = "soon"', "server.cluster_idle_minutes must be a number of minutes"),
    ("cluster_idle_minutes = nan", "server.cluster_idle_minutes must be a number of minutes"),
    ("cluster_idle_minutes = true", "server.cluster_idle_minutes must be a number of minutes"),
])
def test_bad_values_are_refused_naming_the_key(config_file: Path, line: str, named: str) -> None:
    write(config_file, f"[server]\n{line}\n")
    with pytest.raises(ConfigError, match=named):
        ServerSettings.from_config()


def test_bad_explicit_values_are_refused_too() -> None:
    with pytest.raises(ConfigError, match="cluster_start"):
        ServerSettings.from_config(cluster_start="later")
    with pytest.raises(ConfigError, match="cluster_idle_minutes"):
        ServerSettings.from_config(cluster_idle_minutes=-0.5)
