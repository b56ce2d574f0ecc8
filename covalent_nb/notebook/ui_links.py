"""Links to the web UI, which a dispatcher serves at ``<its URL>ui/``; a dispatch's page is ``ui/#/dispatches/<id>``.

A link in a notebook output (``%covalent ui``, the widget's header) opens
the page in a new browser tab. It also says which dispatch and which path it
leads to (``class="cnb-ui-link"``, ``data-dispatch-id``, ``data-ui-path``):
covalent-nb's JupyterLab extension opens it in a Lab tab instead when the
path is its own server's (``{base_url}covalent/ui/``), whatever address the
kernel knows that server by (``127.0.0.1:<port>`` behind a proxy or a Hub).
"""

from __future__ import annotations

import html
import urllib.parse

__all__ = ["UI_PATH", "ui_link_html", "ui_url"]

UI_PATH = "ui/"
"""Where the web UI hangs under a dispatcher's URL."""


def ui_url(dispatcher_url: str, dispatch_id: str | None = None) -> str:
    """The web UI of the dispatcher at ``dispatcher_url`` (its API's base URL), or one dispatch's page there."""
    base = dispatcher_url if dispatcher_url.endswith("/") else dispatcher_url + "/"
    base += UI_PATH
    return f"{base}#/dispatches/{urllib.parse.quote(dispatch_id, safe='')}" if dispatch_id else base


def ui_link_html(dispatcher_url: str, dispatch_id: str | None = None, text: str | None = None,
                 name: str | None = None) -> str:
    """An ``<a>`` to :func:`ui_url` saying ``text`` (default: the URL); ``name`` titles Lab's tab."""
    url = ui_url(dispatcher_url, dispatch_id)
    path = urllib.parse.urlsplit(ui_url(dispatcher_url)).path
    data = f' data-ui-path="{html.escape(path)}"'
    if dispatch_id:
        data += f' data-dispatch-id="{html.escape(dispatch_id)}"'
    if name:
        data += f' data-dispatch-name="{html.escape(name)}"'
    return (f'<a class="cnb-ui-link" href="{html.escape(url)}" target="_blank" rel="noopener"{data}>'
            f"{html.escape(text or url)}</a>")
