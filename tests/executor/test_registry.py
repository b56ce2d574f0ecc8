"""Finding executors by short name through entry points."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from covalent_nb.errors import ExecutorError
from covalent_nb.executor import registry
from covalent_nb.executor.dask import DaskExecutor
from covalent_nb.executor.local import LocalExecutor
from covalent_nb.executor.registry import executor_class, executor_from_spec, known_executors


@pytest.fixture
def fresh_registry() -> Iterator[None]:
    registry._entry_points.cache_clear()
    registry.executor_class.cache_clear()
    yield
    registry._entry_points.cache_clear()
    registry.executor_class.cache_clear()


def test_builtin_executors_are_found_by_short_name() -> None:
    assert executor_class("local") is LocalExecutor
    assert executor_class("dask") is DaskExecutor
    assert {"local", "dask"} <= set(known_executors())


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(ExecutorError) as info:
        executor_class("quantum")
    message = str(info.value)
    assert message.startswith(f"unknown executor 'quantum'; installed executors: {', '.join(known_executors())} (")
    assert "did you mean" not in message


def test_unknown_name_close_to_a_known_one_says_which() -> None:
    with pytest.raises(ExecutorError, match=r"unknown executor 'lcoal'; installed executors: .*local.*; "
                                            r"did you mean 'local'\? \(executor plugins register under"):
        executor_class("lcoal")


def test_executor_from_spec_builds_and_validates() -> None:
    executor = executor_from_spec({"name": "local", "attrs": {"workdir": "somewhere"}})
    assert isinstance(executor, LocalExecutor) and executor.workdir == "somewhere"
    assert executor_from_spec(executor.to_spec()) == executor
    with pytest.raises(ExecutorError, match="'workdir'"):
        executor_from_spec({"name": "local", "attrs": {"workdir": 5}})
    with pytest.raises(ExecutorError, match="executor spec"):
        executor_from_spec({"attrs": {}})


def test_a_plugin_is_found_through_its_entry_point(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   fresh_registry: None) -> None:
    (tmp_path / "cnb_echo_plugin.py").write_text(
        "from covalent_nb.executor.base import BaseExecutor\n"
        "class EchoExecutor(BaseExecutor):\n"
        "    short_name = 'echo'\n"
        "    attributes = {'loud': (bool, False)}\n"
        "    def run(self, task_frame, parent_frames, task_metadata):\n"
        "        return task_frame\n"
        "class Misnamed(EchoExecutor):\n"
        "    short_name = 'other'\n")
    dist_info = tmp_path / "cnb_echo_plugin-0.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: cnb-echo-plugin\nVersion: 0.1\n")
    (dist_info / "entry_points.txt").write_text(
        "[covalent_nb.executors]\necho = cnb_echo_plugin:EchoExecutor\nmisnamed = cnb_echo_plugin:Misnamed\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    executor = executor_from_spec({"name": "echo", "attrs": {"loud": True}})
    assert type(executor).__module__ == "cnb_echo_plugin" and executor.loud is True
    with pytest.raises(ExecutorError, match="declares short_name 'other'"):
        executor_class("misnamed")


def test_a_plugin_installed_after_the_first_lookup_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            fresh_registry: None) -> None:
    assert "late" not in known_executors()  # the cache is filled now
    (tmp_path / "cnb_late_plugin.py").write_text(
        "from covalent_nb.executor.base import BaseExecutor\n"
        "class LateExecutor(BaseExecutor):\n"
        "    short_name = 'late'\n"
        "    def run(self, task_frame, parent_frames, task_metadata):\n"
        "        return task_frame\n")
    dist_info = tmp_path / "cnb_late_plugin-0.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: cnb-late-plugin\nVersion: 0.1\n")
    (dist_info / "entry_points.txt").write_text("[covalent_nb.executors]\nlate = cnb_late_plugin:LateExecutor\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert executor_class("late").__name__ == "LateExecutor"
    assert "late" in known_executors()


def test_known_executors_can_rescan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    fresh_registry: None) -> None:
    known_executors()
    dist_info = tmp_path / "cnb_listed-0.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: cnb-listed\nVersion: 0.1\n")
    (dist_info / "entry_points.txt").write_text("[covalent_nb.executors]\nlisted = cnb_listed:Listed\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "listed" not in known_executors()
    assert "listed" in known_executors(refresh=True)


def test_importing_the_executor_package_does_not_import_distributed() -> None:
    code = ("import sys, covalent_nb.executor as e, covalent_nb.executor.runner, covalent_nb.executor.local\n"
            "e.DaskExecutor, e.executor_class('dask')\n"
            "print('distributed' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False"]
