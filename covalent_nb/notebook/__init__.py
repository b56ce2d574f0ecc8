"""The notebook face of covalent-nb: result widgets, the transport graph picture, magics.

Importing this package is cheap: it imports neither IPython nor ipywidgets.
The names below load their modules on first use::

    from covalent_nb.notebook import show_dispatch
    show_dispatch(dispatch_id)        # the live widget for any dispatch
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["DispatchWidget", "EventStream", "mime_bundle_for", "show_dispatch", "static_html"]

_LAZY = {
    "DispatchWidget": "covalent_nb.notebook.widget",
    "show_dispatch": "covalent_nb.notebook.widget",
    "mime_bundle_for": "covalent_nb.notebook.display",
    "EventStream": "covalent_nb.notebook.live",
    "static_html": "covalent_nb.notebook.static_view",
}


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'covalent_nb.notebook' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
