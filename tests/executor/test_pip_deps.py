"""Isolated pip installs, and the runner's use of them (a tiny local package, no index needed)."""

from __future__ import annotations

import io
import os
import sys
import threading
from pathlib import Path

import pytest

from covalent_nb.executor.pip_deps import PipInstallError, install_isolated, requirements_key
from covalent_nb.executor.runner import run_task
from covalent_nb.workflow.deps import TaskHooks

from .taskframes import read_result, task_frame

# A PEP 517 backend with no build requirements, so pip needs no package index.
_BACKEND = '''
import base64, hashlib, os, zipfile

NAME, VERSION = "cnb_tinypkg", "0.1"
DIST_INFO = f"{NAME}-{VERSION}.dist-info"

def get_requires_for_build_wheel(config_settings=None):
    return []

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, NAME, "__init__.py"), "rb") as f:
        source = f.read()
    files = {
        f"{NAME}/__init__.py": source,
        f"{DIST_INFO}/METADATA": f"Metadata-Version: 2.1\\nName: {NAME}\\nVersion: {VERSION}\\n".encode(),
        f"{DIST_INFO}/WHEEL": b"Wheel-Version: 1.0\\nGenerator: tiny\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n",
    }
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{DIST_INFO}/RECORD,,")
    files[f"{DIST_INFO}/RECORD"] = ("\\n".join(record) + "\\n").encode()
    name = f"{NAME}-{VERSION}-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as wheel:
        for path, data in files.items():
            wheel.writestr(path, data)
    return name
'''

_PYPROJECT = '''
[build-system]
requires = []
build-backend = "tiny_backend"
backend-path = ["."]

[project]
name = "cnb_tinypkg"
version = "0.1"
'''


@pytest.fixture
def tiny_package(tmp_path: Path) -> Path:
    """A local package directory whose module says MAGIC = 'tiny-42'."""
    root = tmp_path / "tinypkg-src"
    (root / "cnb_tinypkg").mkdir(parents=True)
    (root / "cnb_tinypkg" / "__init__.py").write_text("MAGIC = 'tiny-42'\n")
    (root / "tiny_backend.py").write_text(_BACKEND)
    (root / "pyproject.toml").write_text(_PYPROJECT)
    return root


def use_tiny_package() -> str:
    import cnb_tinypkg  # noqa: PLC0415 - only importable from the task's pip directory

    return cnb_tinypkg.MAGIC


def test_requirements_key_ignores_order() -> None:
    assert requirements_key(["b", "a"]) == requirements_key(["a", "b"])
    assert requirements_key(["a"]) != requirements_key(["a", "b"])
    assert len(requirements_key(["a"])) == 16


def test_installs_once_into_its_own_directory_and_reuses_it(tiny_package: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    output = io.StringIO()
    target = install_isolated([str(tiny_package)], str(cache), output=output)
    assert target == str(cache / requirements_key([str(tiny_package)]))
    assert (Path(target) / "cnb_tinypkg" / "__init__.py").read_text() == "MAGIC = 'tiny-42'\n"
    assert "Successfully installed" in output.getvalue()
    assert "cnb_tinypkg" not in sys.modules and target not in sys.path
    (tiny_package / "pyproject.toml").unlink()  # a second pip run would now fail
    again = io.StringIO()
    assert install_isolated([str(tiny_package)], str(cache), output=again) == target
    assert again.getvalue() == ""


def test_concurrent_installs_of_one_set_run_pip_once(tiny_package: Path, tmp_path: Path) -> None:
    outputs = [io.StringIO() for _ in range(3)]
    targets: list[str] = []
    threads = [threading.Thread(target=lambda o=o: targets.append(
        install_isolated([str(tiny_package)], str(tmp_path / "cache"), output=o))) for o in outputs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(targets)) == 1 and len(targets) == 3
    assert sum(1 for o in outputs if o.getvalue()) == 1


def test_failed_install_carries_pips_output_and_leaves_nothing(tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-package-dir")
    with pytest.raises(PipInstallError) as info:
        install_isolated([missing], str(tmp_path / "cache"))
    message = str(info.value)
    assert "no-such-package-dir" in message
    assert "pip said:" in message
    assert info.value.returncode != 0
    assert not (tmp_path / "cache" / requirements_key([missing])).exists()


def test_runner_task_imports_its_pip_package_only_while_it_runs(tiny_package: Path, tmp_path: Path) -> None:
    hooks = TaskHooks(pip=[str(tiny_package)])
    frame = task_frame(use_tiny_package, hooks=hooks, pip_cache_dir=str(tmp_path / "cache"))
    path_before = list(sys.path)
    meta, value = read_result(run_task(frame))
    assert meta["status"] == "COMPLETED", meta["error"]
    assert value == "tiny-42"
    assert "cnb_tinypkg" not in sys.modules
    assert sys.path == path_before
    with pytest.raises(ImportError):
        use_tiny_package()


def test_runner_reports_a_failed_pip_install(tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-package-dir")
    frame = task_frame(use_tiny_package, hooks=TaskHooks(pip=[missing]), pip_cache_dir=str(tmp_path / "c"))
    meta, _ = read_result(run_task(frame))
    assert meta["status"] == "FAILED"
    assert meta["error"].startswith("PipInstallError: pip could not install")
    assert "no-such-package-dir" in meta["error"]
    assert os.listdir(tmp_path / "c") == [requirements_key([missing]) + ".lock"]
