"""The notebook face of covalent-nb: result widgets, the transport graph picture, magics.

Importing this package is cheap: it imports neither IPython nor ipywidgets.
The names below load their modules on first use::

    from covalent_nb.notebook import show_dispatch
    show_dispatch(dispatch_id)        # the live widget for any dispatch
"""

from __future__ import annotations

from covalent_nb._lazy import lazy_attributes

__all__ = ["DispatchWidget", "EventStream", "mime_bundle_for", "show_dispatch", "static_html"]

_LAZY = {
    "DispatchWidget": "covalent_nb.notebook.widget",
    "show_dispatch": "covalent_nb.notebook.widget",
    "mime_bundle_for": "covalent_nb.notebook.display",
    "EventStream": "covalent_nb.notebook.live",
    "static_html": "covalent_nb.notebook.static_view",
}


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, __all__, globals())
