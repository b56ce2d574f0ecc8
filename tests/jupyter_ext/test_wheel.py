"""Installing the built wheel enables the extension: `jupyter server extension list` says so.

The wheel is built from this checkout and installed (without dependencies,
which come from the test environment) into a fresh virtual environment, so
the check sees only the config that the wheel itself ships.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run(*args: str, **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(list(args), capture_output=True, text=True, timeout=300, **kwargs)
    assert done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr}"
    return done


def test_wheel_install_enables_the_extension(tmp_path: Path) -> None:
    source = tmp_path / "src"  # build from a copy: setuptools writes build/ beside the sources
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(
        ".git", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", "test-artifacts"))
    wheels = tmp_path / "dist"
    run(sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(wheels), str(source))
    (wheel,) = wheels.glob("covalent_nb-*.whl")
    import zipfile
    shipped_modules = set(zipfile.ZipFile(wheel).namelist())
    for folder, installed_as in (("covalent_nb", "covalent_nb"), ("server", "covalent_nb/server"),
                                 ("jupyter_ext", "covalent_nb/jupyter_ext")):
        for init in (REPO / folder).rglob("__init__.py"):
            package = installed_as + "/" + str(init.relative_to(REPO / folder))
            assert package in shipped_modules, f"the wheel leaves out {package}"
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--system-site-packages", str(venv))
    python = str(venv / "bin" / "python")
    run(python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", str(wheel))
    shipped = venv / "etc" / "jupyter" / "jupyter_server_config.d" / "covalent_nb.json"
    assert shipped.exists()
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(tmp_path / "user-config"))
    listing = run(python, "-m", "jupyter_server", "extension", "list", env=env)
    text = re.sub(r"\x1b\[[0-9;]*m", "", listing.stdout + listing.stderr)
    section = text.split(f"Config dir: {venv / 'etc' / 'jupyter'}", 1)[1]
    assert re.search(r"covalent_nb\.jupyter_ext\s+enabled", section)
    assert re.search(r"covalent_nb\.jupyter_ext\s+OK", section)
    # and the package it enables is the wheel's, not this checkout's
    where = run(python, "-c", "import covalent_nb.jupyter_ext as m; print(m.__file__)", cwd=tmp_path)
    assert str(venv) in where.stdout
