"""Build hook: editable installs import ``covalent_nb.server`` and ``covalent_nb.jupyter_ext`` from the checkout.

A wheel copies ``server/`` and ``jupyter_ext/`` into ``covalent_nb/`` (the
``force-include`` table in ``pyproject.toml``). An editable install cannot
copy them, and hatchling's own editable mode maps only top-level packages
(``covalent_nb``). So for editable builds this hook ships, instead of the
copies, a small import finder and the ``.pth`` file that installs it: it
finds ``covalent_nb.server`` in ``server/`` and ``covalent_nb.jupyter_ext``
in ``jupyter_ext/`` of the checkout, and nothing else. The checkout itself
never goes on ``sys.path``, so no top-level ``server`` package appears.

It also holds :func:`build_labextension`, the build function of the
``jupyter-builder`` hook (``pyproject.toml``): the JupyterLab side panel in
``labextension/`` is built with Node.js through ``jlpm`` when its sources
are newer than its build. A wheel build without Node.js fails and says so;
an editable build without it skips the panel in one line (everything else
still works).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

FINDER_MODULE = "_covalent_nb_editable"

SUBPACKAGES = {"covalent_nb.server": "server", "covalent_nb.jupyter_ext": "jupyter_ext", "covalent_nb.webui": "webui"}
"""Dotted name -> folder of the checkout it imports from."""

FINDER_SOURCE = '''\
"""Editable install of covalent-nb: subpackages that live in other folders of the checkout."""

import importlib.util
import sys

FOLDERS = {folders!r}


class CovalentNBSubpackageFinder:
    """Finds covalent_nb.server and covalent_nb.jupyter_ext in their folders of the checkout."""

    @classmethod
    def find_spec(cls, fullname, path=None, target=None):
        folder = FOLDERS.get(fullname)
        if folder is None:
            return None
        return importlib.util.spec_from_file_location(
            fullname, folder + "/__init__.py", submodule_search_locations=[folder])

    @classmethod
    def invalidate_caches(cls):
        pass


if CovalentNBSubpackageFinder not in sys.meta_path:
    sys.meta_path.append(CovalentNBSubpackageFinder)
'''


class CustomBuildHook(BuildHookInterface):
    """Replaces the copied subpackages of editable wheels with a finder pointing at the checkout."""

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel" or version != "editable":
            return
        folders = {name: str(Path(self.root, folder).resolve()) for name, folder in SUBPACKAGES.items()}
        self._generated = Path(tempfile.mkdtemp(prefix="covalent_nb_editable_"))
        finder = self._generated / f"{FINDER_MODULE}.py"
        finder.write_text(FINDER_SOURCE.format(folders=folders))
        pth = self._generated / f"{FINDER_MODULE}.pth"
        pth.write_text(f"import {FINDER_MODULE}\n")
        # replaces the force-include table (the copies) for this editable build
        build_data["force_include_editable"] = {str(finder): finder.name, str(pth): pth.name}

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        generated = getattr(self, "_generated", None)
        if generated is not None:
            shutil.rmtree(generated, ignore_errors=True)


# ---- the JupyterLab side panel ---------------------------------------------------------------

LABEXTENSION_INPUTS = ("src", "style", "package.json", "yarn.lock", "tsconfig.json", ".yarnrc.yml", "install.json")
"""What the side panel's build reads, in ``labextension/``."""

LABEXTENSION_OUTPUTS = ("package.json", "static/style.js", "install.json")
"""Files every build of the panel writes, in its output folder."""

MIN_NODE = (20, 19)
"""The oldest Node.js the panel's bundler (Rspack, from @jupyter/builder) runs on."""


def build_labextension(target_name: str, version: str, path: str = "labextension",
                       build_dir: str = "labextension/prebuilt", build_cmd: str = "build:prod",
                       npm: list[str] | str = "jlpm") -> None:
    """Build the side panel (``jlpm install``, then ``jlpm <build_cmd>`` in ``path``) unless it is up to date.

    The ``jupyter-builder`` hook calls it for wheel and editable builds (``version``
    "standard" or "editable"). Without Node.js (or jlpm) a wheel build raises; an
    editable build prints one line saying the panel is not built, and goes on.
    """
    if labextension_up_to_date(Path(path), Path(build_dir)):
        print(f"covalent-nb: the JupyterLab side panel in {build_dir} is up to date", file=sys.stderr)
        return
    problem = node_problem(npm)
    if problem is not None:
        if version == "editable":
            print(f"covalent-nb: the JupyterLab side panel is not built ({problem}); everything else works. "
                  f"Install Node.js {MIN_NODE[0]}.{MIN_NODE[1]} or later, then run pip install -e . again.",
                  file=sys.stderr)
            return
        raise RuntimeError(f"covalent-nb: building the {target_name} needs Node.js {MIN_NODE[0]}.{MIN_NODE[1]} or "
                           f"later to build the JupyterLab side panel ({problem}). Install it (Debian: apt-get "
                           "install nodejs npm) and build again.")
    from hatch_jupyter_builder import npm_builder

    npm_builder(target_name, version, path=path, build_cmd=build_cmd, npm=npm, force=True)


def labextension_up_to_date(source: Path, output: Path) -> bool:
    """Whether every output of the panel's build is newer than every file the build reads."""
    try:
        built = min(output.joinpath(name).stat().st_mtime for name in LABEXTENSION_OUTPUTS)
    except OSError:
        return False
    inputs = [source / name for name in LABEXTENSION_INPUTS]
    files = [f for item in inputs if item.exists() for f in ([item] if item.is_file() else item.rglob("*"))]
    return all(f.stat().st_mtime <= built for f in files if f.is_file())


def node_problem(npm: list[str] | str = "jlpm") -> str | None:
    """Why the panel cannot be built here (no Node.js, too old a one, no jlpm), or None."""
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        return "Node.js is not installed"
    try:
        said = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=60).stdout.strip()
    except (OSError, subprocess.SubprocessError) as error:
        return f"{node} --version failed: {error}"
    found = re.match(r"v?(\d+)\.(\d+)", said)
    if found is None or (int(found[1]), int(found[2])) < MIN_NODE:
        return f"{node} is Node.js {said or '(no version)'}"
    tool = npm if isinstance(npm, str) else npm[0]
    if shutil.which(tool) is None:
        return f"{tool} is not installed (it comes with the jupyter-builder package)"
    return None
