"""Installing covalent-nb, as the built wheel or editable, enables the extension with no extra step.

The server extension and the JupyterLab side panel both; without Node.js, a
wheel build fails and says why, and an editable install skips the panel.

Both installs go into one fresh virtual environment, from a copy of this
checkout (so builds write nothing here), the way a user installs: the
wheel as ``covalent_nb-*.whl[lab]`` and the checkout as ``pip install -e
".[lab]"``, each with its dependencies resolved by pip from the package
index. The environment is a clean venv, not one made with
``--system-site-packages``: inside a virtual environment that option
exposes the base interpreter's packages, not this environment's (the
test then failed with "No module named jupyter_server"), and outside one
it would hide a dependency that pyproject.toml forgets (ipykernel for
the kernel, JupyterLab for ``[lab]``). Resolving the dependencies is the
slow part (about half a minute with pip's cache or a local mirror); the
environment is made once for the module and the second install reuses
what the first brought.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import covalent_nb
from tests.conftest import free_port

REPO = Path(__file__).resolve().parents[2]
COPY_IGNORES = (".git", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", "test-artifacts",
                ".venv", "venv", "node_modules", ".yarn")
# The side panel's build (labextension/prebuilt) is copied with its times, so the copy's builds
# find it up to date and run no Node.js; tests/run has just built it (pip install -e .).
PANEL = "share/jupyter/labextensions/covalent-nb"


def run(*args: str, **kwargs) -> subprocess.CompletedProcess:
    """Run a command (10 minutes at most); fail the test with its output unless it exits 0."""
    done = subprocess.run(list(args), capture_output=True, text=True, timeout=600, **kwargs)
    assert done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr}"
    return done


class FreshVenv:
    """A virtual environment without access to any other environment's packages."""

    def __init__(self, root: Path) -> None:
        self.root = root
        run(sys.executable, "-m", "venv", str(root))
        self.python = str(root / "bin" / "python")
        # only this venv's programs and Jupyter config: none of the user's, none of the test run's
        env = {key: value for key, value in os.environ.items()
               if not key.startswith(("JUPYTER", "PYTHON", "VIRTUAL_ENV", "COVALENT_NB"))}
        env.update(PATH=f"{root / 'bin'}{os.pathsep}{env.get('PATH', '')}", VIRTUAL_ENV=str(root),
                   JUPYTER_CONFIG_DIR=str(root.parent / "user-jupyter-config"),
                   JUPYTER_DATA_DIR=str(root.parent / "user-jupyter-data"))
        self.env = env

    def run(self, *args: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        """Run ``args`` with this venv's programs first on PATH, outside any checkout."""
        return run(*args, env={**self.env, **(env_extra or {})}, cwd=self.root.parent)

    def pip_install(self, *args: str) -> None:
        self.run(self.python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *args)

    def extension_listing(self) -> str:
        """The part of `jupyter server extension list` about this venv's config dir (colours removed)."""
        listing = self.run("jupyter", "server", "extension", "list")
        text = re.sub(r"\x1b\[[0-9;]*m", "", listing.stdout + listing.stderr)
        config_dir = f"Config dir: {self.root / 'etc' / 'jupyter'}"
        assert config_dir in text, f"the listing names no config dir of the venv:\n{text}"
        return text.split(config_dir, 1)[1].split("Config dir:", 1)[0]

    def module_file(self, module: str) -> Path:
        """Where ``module`` is imported from in this venv (run outside any checkout)."""
        done = self.run(self.python, "-c", f"import {module} as m; print(m.__file__)")
        return Path(done.stdout.strip())


@pytest.fixture(scope="module")
def checkout_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of this checkout's files (not its git data or build output)."""
    copy = tmp_path_factory.mktemp("checkout") / "covalent-nb"
    shutil.copytree(REPO, copy, ignore=shutil.ignore_patterns(*COPY_IGNORES))
    return copy


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> FreshVenv:
    return FreshVenv(tmp_path_factory.mktemp("fresh") / "venv")


def assert_extension_enabled(venv: FreshVenv) -> None:
    """The venv's config enables the extension, and jupyter_server loads it and shows its version."""
    shipped = venv.root / "etc" / "jupyter" / "jupyter_server_config.d" / "covalent_nb.json"
    assert json.loads(shipped.read_text()) == {
        "ServerApp": {"jpserver_extensions": {"covalent_nb.jupyter_ext": True}}}
    section = venv.extension_listing()
    assert re.search(r"covalent_nb\.jupyter_ext\s+enabled", section), section
    version = re.escape(covalent_nb.__version__)
    assert re.search(rf"covalent_nb\.jupyter_ext\s+{version}\s+OK", section), section


def assert_panel_enabled(venv: FreshVenv) -> None:
    """`jupyter labextension list` shows the side panel, from this venv, enabled and OK, with its version."""
    listing = venv.run("jupyter", "labextension", "list")
    text = re.sub(r"\x1b\[[0-9;]*m", "", listing.stdout + listing.stderr)
    folder = str(venv.root / PANEL).rsplit("/", 1)[0]
    assert folder in text, f"the listing names no labextensions folder of the venv:\n{text}"
    section = text.split(folder, 1)[1].split("\n\n", 1)[0]
    version = re.escape(covalent_nb.__version__)
    assert re.search(rf"covalent-nb v{version}\s+enabled\s+OK\s+\(python, covalent-nb\)", section), text
    assert (venv.root / PANEL / "package.json").is_file()


def assert_jupyter_lab_and_kernel(venv: FreshVenv) -> None:
    """`jupyter lab` runs, and the venv's own python3 kernel can load the magics."""
    assert venv.run("jupyter", "lab", "--version").stdout.strip()
    kernels = json.loads(venv.run("jupyter", "kernelspec", "list", "--json").stdout)["kernelspecs"]
    assert "python3" in kernels, kernels
    assert Path(kernels["python3"]["resource_dir"]).is_relative_to(venv.root), kernels["python3"]
    venv.run(venv.python, "-c", "import ipykernel, ipywidgets, covalent_nb.notebook.magics")


def test_wheel_install_enables_the_extension(tmp_path: Path, checkout_copy: Path, venv: FreshVenv) -> None:
    wheels = tmp_path / "dist"
    run(sys.executable, "-m", "build", "--wheel", "--outdir", str(wheels), str(checkout_copy))
    (wheel,) = wheels.glob("covalent_nb-*.whl")
    shipped_files = set(zipfile.ZipFile(wheel).namelist())
    for folder, installed_as in (("covalent_nb", "covalent_nb"), ("server", "covalent_nb/server"),
                                 ("jupyter_ext", "covalent_nb/jupyter_ext")):
        for init in (REPO / folder).rglob("__init__.py"):
            package = installed_as + "/" + str(init.relative_to(REPO / folder))
            assert package in shipped_files, f"the wheel leaves out {package}"
    assert not {name for name in shipped_files if name.startswith(("server/", "jupyter_ext/", "tests/"))}
    data = f"covalent_nb-{covalent_nb.__version__}.data/data/{PANEL}/"
    assert {data + "package.json", data + "install.json", data + "static/style.js"} <= shipped_files
    assert not {name for name in shipped_files if name.startswith("labextension/") or "node_modules" in name}

    venv.pip_install(f"{wheel}[lab]")
    assert_extension_enabled(venv)
    assert_panel_enabled(venv)
    assert_jupyter_lab_and_kernel(venv)
    # the extension is the wheel's, not this checkout's, and its version is the package's
    assert venv.module_file("covalent_nb.jupyter_ext").is_relative_to(venv.root)
    assert venv.run("covalent-nb", "--version").stdout.split() == ["covalent-nb", covalent_nb.__version__]


def test_editable_install_enables_the_extension(checkout_copy: Path, venv: FreshVenv) -> None:
    venv.pip_install("-e", f"{checkout_copy}[lab]")
    assert_extension_enabled(venv)
    assert_panel_enabled(venv)
    assert_jupyter_lab_and_kernel(venv)
    # the three packages import from their folders of the checkout, and nothing else does
    for module, folder in (("covalent_nb", "covalent_nb"), ("covalent_nb.server", "server"),
                           ("covalent_nb.jupyter_ext", "jupyter_ext")):
        assert venv.module_file(module) == checkout_copy / folder / "__init__.py"
    for top_level in ("server", "jupyter_ext"):
        missing = subprocess.run([venv.python, "-c", f"import {top_level}"], env=venv.env,
                                 cwd=venv.root.parent, capture_output=True, text=True)
        assert missing.returncode == 1 and "ModuleNotFoundError" in missing.stderr, missing.stderr
    # editable: a module added to the checkout later imports at once
    (checkout_copy / "server" / "_added_later.py").write_text("ANSWER = 42\n")
    added = venv.run(venv.python, "-c", "from covalent_nb.server._added_later import ANSWER; print(ANSWER)")
    assert added.stdout.strip() == "42"
    # the README's quick start, `pip install -e . && covalent-nb demo` (on a free port, in private dirs)
    state = venv.root.parent / "quick-start"
    (state / "config").mkdir(parents=True)
    (state / "config" / "covalent.conf").write_text("[server]\nworkers = 1\n")
    demo = venv.run("covalent-nb", "demo", "--port", str(free_port()), env_extra={
        "COVALENT_NB_CONFIG_DIR": str(state / "config"), "COVALENT_NB_DATA_DIR": str(state / "data")})
    assert "result: 1^2 + 2^2 + ... + 8^2 = 204" in demo.stdout, demo.stdout
    assert "Traceback" not in demo.stderr, demo.stderr


def path_without_node() -> str:
    """This process's PATH without the folders that hold Node.js."""
    return os.pathsep.join(folder for folder in os.environ.get("PATH", "").split(os.pathsep)
                           if folder and not any((Path(folder) / name).exists() for name in ("node", "nodejs")))


def test_without_node_a_wheel_build_fails_and_an_editable_install_skips_the_panel(tmp_path: Path) -> None:
    source = tmp_path / "covalent-nb"  # a checkout whose panel was never built
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(*COPY_IGNORES, "prebuilt"))
    wheels = tmp_path / "dist"
    failed = subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(wheels), str(source)],
                            env={**os.environ, "PATH": path_without_node()}, capture_output=True, text=True,
                            timeout=600)
    said = failed.stdout + failed.stderr
    assert failed.returncode != 0 and not list(wheels.glob("*.whl")), said
    assert "building the wheel needs Node.js 20.19 or later to build the JupyterLab side panel" in said, said

    bare = FreshVenv(tmp_path / "venv")  # the install alone, without its dependencies: quick
    installed = bare.run(bare.python, "-m", "pip", "install", "--no-deps", "-v", "-e", str(source),
                         env_extra={"PATH": f"{bare.root / 'bin'}{os.pathsep}{path_without_node()}"})
    said = installed.stdout + installed.stderr
    assert ("covalent-nb: the JupyterLab side panel is not built (Node.js is not installed); everything "
            "else works.") in said, said
    assert (bare.root / "etc" / "jupyter" / "jupyter_server_config.d" / "covalent_nb.json").is_file()
    assert not (bare.root / PANEL).exists()


def test_one_version_for_the_package_the_extension_and_the_distribution() -> None:
    from importlib.metadata import version

    from jupyter_server.extension.manager import ExtensionPackage

    import covalent_nb.jupyter_ext

    assert covalent_nb.jupyter_ext.__version__ == covalent_nb.__version__
    assert version("covalent-nb") == covalent_nb.__version__  # pyproject.toml reads the same string
    # what `jupyter server extension list` shows beside the extension's name
    assert ExtensionPackage(name="covalent_nb.jupyter_ext", enabled=True).version == covalent_nb.__version__
    # the side panel's npm package (what `jupyter labextension list` shows)
    assert json.loads((REPO / "labextension" / "package.json").read_text())["version"] == covalent_nb.__version__
