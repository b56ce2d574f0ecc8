"""The standalone server's login for the web UI: the login form, one-time links, logout.

Routes under the server's prefix (the Jupyter and JupyterHub hosts have their own login):

- ``GET ui/login``: the form, which takes the token as Jupyter's does;
  ``GET ui/login?once=<code>`` logs in with a one-time code instead;
- ``POST ui/login`` (form: ``token``, ``next``, ``_xsrf``): a right token sets the
  session cookie and goes to the UI; a wrong one shows the form again (403);
- ``POST ui/logout`` (form: ``_xsrf``): ends the session;
- ``POST api/v1/login-codes`` (the token, as every API call): a new one-time
  code, ``{"path": "ui/login?once=...", "expires_in": seconds}``, what
  ``covalent-nb start`` prints and ``covalent-nb ui`` opens.

``next`` is where the UI goes after the login: a hash route of the page
(``#/dispatches/<id>``), nothing else.
"""

from __future__ import annotations

import hmac
import re
from typing import Any

import tornado.web

from covalent_nb.webui import TEMPLATE_DIR, UiPageHandler, asset_url, content_security_policy

from .handlers import ApiHandler
from .sessions import CODE_SECONDS, SessionKeeper

__all__ = ["login_routes", "login_api_routes", "SessionUiPage"]

_NEXT = re.compile(r"#/[A-Za-z0-9_\-./?=&%:]{0,500}")


def _next_route(text: str | None) -> str:
    """``text`` when it is a hash route of the UI, else the dispatch list."""
    return text if text and _NEXT.fullmatch(text) else "#/"


class _UiLoginBase(tornado.web.RequestHandler):
    def initialize(self, sessions: SessionKeeper, token: str, prefix: str) -> None:
        self.sessions = sessions
        self.token = token
        self.prefix = prefix

    def get_template_path(self) -> str:
        return str(TEMPLATE_DIR)

    def set_default_headers(self) -> None:
        self.set_header("Content-Security-Policy", content_security_policy("none"))
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Cache-Control", "no-store")
        self.set_header("Referrer-Policy", "no-referrer")  # a one-time code in the URL goes nowhere

    def show_form(self, status: int = 200, error: str = "", message: str = "", next_url: str = "#/") -> None:
        self.set_status(status)
        self.render("login.html", asset=asset_url, error=error, message=message, next_url=next_url)

    def enter(self, next_url: str) -> None:
        """Start a session and go to the UI."""
        self.sessions.set_cookie(self, self.prefix)
        self.redirect(f"{self.prefix}ui/{_next_route(next_url)}")


class LoginHandler(_UiLoginBase):
    """``GET/POST ui/login``: the login form, a one-time code, the token."""

    def get(self) -> None:
        code = self.get_query_argument("once", None)
        next_url = _next_route(self.get_query_argument("next", None))
        if code is not None:
            if self.sessions.redeem(code):
                self.enter(next_url)
                return
            self.show_form(403, error="This login link has expired or was used already. Log in with the token, "
                                      "or run covalent-nb ui for a new link.", next_url=next_url)
            return
        message = "You are logged out." if self.get_query_argument("logged_out", None) else ""
        self.show_form(message=message, next_url=next_url)

    def post(self) -> None:
        given = self.get_body_argument("token", "").strip()
        next_url = _next_route(self.get_body_argument("next", None))
        if given and hmac.compare_digest(given.encode(), self.token.encode()):
            self.enter(next_url)
            return
        self.show_form(403, error="That is not the server's token.", next_url=next_url)


class LogoutHandler(_UiLoginBase):
    """``POST ui/logout``: end the session (tornado checks the form's ``_xsrf``)."""

    def post(self) -> None:
        self.sessions.clear_cookie(self, self.prefix)
        self.redirect(f"{self.prefix}ui/login?logged_out=1")


class SessionUiPage(UiPageHandler):
    """The UI's page on the standalone server: without a live session, the login form first.

    The browser keeps the page's hash route through the redirect; the login
    form takes it along (``static/js/login.js``).
    """

    def initialize(self, sessions: SessionKeeper, prefix: str, **kwargs: Any) -> None:  # type: ignore[override]
        super().initialize(**kwargs)
        self.sessions = sessions
        self.prefix = prefix

    def get(self) -> None:
        if not self.sessions.from_request(self):
            self.set_header("Cache-Control", "no-store")
            self.redirect(f"{self.prefix}ui/login")
            return
        self.write_page()


class LoginCodesHandler(ApiHandler):
    """``POST login-codes``: a one-time login code for the UI (``covalent-nb start`` and ``ui`` ask for it)."""

    def initialize(self, service: Any, authenticate: Any, sessions: SessionKeeper) -> None:  # type: ignore[override]
        super().initialize(service, authenticate)
        self.sessions = sessions

    def post(self) -> None:
        code = self.sessions.new_code()
        self.write_json({"path": f"ui/login?once={code}", "expires_in": CODE_SECONDS}, status=201)


def login_routes(prefix: str, sessions: SessionKeeper, token: str) -> list[tuple[str, type, dict[str, Any]]]:
    """The login form and logout under ``prefix`` (ending with '/')."""
    kwargs = {"sessions": sessions, "token": token, "prefix": prefix}
    return [(f"{prefix}ui/login", LoginHandler, kwargs), (f"{prefix}ui/logout", LogoutHandler, kwargs)]


def login_api_routes(prefix: str, service: Any, authenticate: Any,
                     sessions: SessionKeeper) -> list[tuple[str, type, dict[str, Any]]]:
    """``api/v1/login-codes`` (before the API's own routes, whose last one takes every other path)."""
    return [(f"{prefix}api/v1/login-codes", LoginCodesHandler,
             {"service": service, "authenticate": authenticate, "sessions": sessions})]
