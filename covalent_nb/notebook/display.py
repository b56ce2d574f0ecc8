"""Mime bundles for a dispatch: the live widget in a kernel with ipywidgets, static HTML elsewhere.

Importing this module imports neither IPython nor ipywidgets.
"""

from __future__ import annotations

import importlib.util
import sys
from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:
    from covalent_nb.client.http import DispatcherConnection

__all__ = ["bundle_for_view", "display_dispatch", "in_widget_kernel", "mime_bundle_for"]


def in_widget_kernel() -> bool:
    """True inside an IPython kernel (not a terminal IPython) where ipywidgets can be imported."""
    if "IPython" not in sys.modules:
        return False
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None or getattr(shell, "kernel", None) is None:
        return False
    return importlib.util.find_spec("ipywidgets") is not None


def bundle_for_view(view: Mapping[str, Any], connection: "DispatcherConnection | None",
                    text_plain: str | None = None) -> dict[str, Any]:
    """The bundle for a dispatch view: widget view + ``text/html`` + ``text/plain`` in a widget
    kernel, else ``text/html`` (summary, graph, table) and ``text/plain``."""
    if in_widget_kernel():
        from .widget import DispatchWidget

        bundle = DispatchWidget(view, connection=connection, text_plain=text_plain)._repr_mimebundle_()
        if bundle is not None:
            return bundle
    from .dispatch_state import DispatchState
    from .static_view import static_html, summary_text

    state = DispatchState(view)
    return {"text/plain": text_plain if text_plain is not None else summary_text(state),
            "text/html": static_html(view, state)}


def mime_bundle_for(dispatch_id: str, dispatcher_addr: str | None = None) -> dict[str, Any]:
    """The mime bundle showing dispatch ``dispatch_id`` (see :func:`bundle_for_view`)."""
    from covalent_nb.client.connect import connection

    conn = connection(dispatcher_addr)
    return bundle_for_view(conn.get_json(f"dispatches/{dispatch_id}"), conn)


def display_dispatch(dispatch_id: str, dispatcher_addr: str | None = None) -> None:
    """Show dispatch ``dispatch_id`` in IPython: the live widget in a widget kernel (its output
    updated with the final picture when the dispatch ends), else the bundle of :func:`bundle_for_view`."""
    from IPython.display import display

    from covalent_nb.client.connect import connection

    conn = connection(dispatcher_addr)
    view = conn.get_json(f"dispatches/{dispatch_id}")
    if in_widget_kernel():
        from .widget import DispatchWidget

        DispatchWidget(view, connection=conn)._ipython_display_()
        return
    display(bundle_for_view(view, conn), raw=True)
