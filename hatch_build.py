"""Build hook: editable installs import ``covalent_nb.server`` and ``covalent_nb.jupyter_ext`` from the checkout.

A wheel copies ``server/`` and ``jupyter_ext/`` into ``covalent_nb/`` (the
``force-include`` table in ``pyproject.toml``). An editable install cannot
copy them, and hatchling's own editable mode maps only top-level packages
(``covalent_nb``). So for editable builds this hook ships, instead of the
copies, a small import finder and the ``.pth`` file that installs it: it
finds ``covalent_nb.server`` in ``server/`` and ``covalent_nb.jupyter_ext``
in ``jupyter_ext/`` of the checkout, and nothing else. The checkout itself
never goes on ``sys.path``, so no top-level ``server`` package appears.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

FINDER_MODULE = "_covalent_nb_editable"

SUBPACKAGES = {"covalent_nb.server": "server", "covalent_nb.jupyter_ext": "jupyter_ext"}
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
