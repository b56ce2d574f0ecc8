"""The web UI inside Jupyter: ``{base_url}covalent/ui/``, behind Jupyter's own login.

The page and its assets are covalent-nb's web UI (``covalent_nb.webui``),
served by handlers that are Jupyter's: a visitor without Jupyter's login is
sent to it, and a user must be authorized to read ``covalent`` (the
resource the API handlers authorize). The page's API calls go to the
extension's API with Jupyter's cookie and repeat Jupyter's ``_xsrf`` cookie
in their ``X-XSRFToken`` header. The page may be framed by pages of the same
origin (the JupyterLab side panel does): ``frame-ancestors 'self'``.
"""

from __future__ import annotations

from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import JupyterHandler
from tornado import web

from covalent_nb.webui import TEMPLATE_DIR, UiPageHandler, UiStaticHandler, content_security_policy, ui_routes

from .handlers import AUTH_RESOURCE

__all__ = ["JupyterUiPage", "JupyterUiStatic", "jupyter_ui_routes"]


class JupyterUiPage(JupyterHandler, UiPageHandler):
    """``GET {base_url}covalent/ui/``: the page, for a logged-in user authorized to read ``covalent``."""

    auth_resource = AUTH_RESOURCE

    @property
    def content_security_policy(self) -> str:
        return content_security_policy(self.nonce)

    def get_template_path(self) -> str:
        return str(TEMPLATE_DIR)

    @web.authenticated
    @authorized("read")
    def get(self) -> None:
        self.write_page()


class JupyterUiStatic(JupyterHandler, UiStaticHandler):
    """The page's assets, for a logged-in user (as Jupyter's own authenticated files)."""

    auth_resource = AUTH_RESOURCE

    @web.authenticated
    @authorized("read")
    def head(self, path: str) -> Any:
        return UiStaticHandler.head(self, path)

    @web.authenticated
    @authorized("read")
    def get(self, path: str, include_body: bool = True) -> Any:
        return UiStaticHandler.get(self, path, include_body)


def jupyter_ui_routes(prefix: str) -> list[tuple[str, type, dict[str, Any]]]:
    """The UI's routes under ``prefix`` (``/covalent/``; the extension app adds Jupyter's base URL)."""
    return ui_routes(prefix, page_handler=JupyterUiPage, static_handler=JupyterUiStatic,
                     page_kwargs={"host": "jupyter", "logout": ""})
