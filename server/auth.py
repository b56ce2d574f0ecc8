"""Authentication of API calls for the standalone server: one token per server, or a browser session.

The token lives in ``<data_dir>/server.token`` (mode 0600) so that clients of
the same user on the same machine find it; remote clients are given it.
Hosts with their own identity system (Jupyter, JupyterHub) pass another
``authenticate`` callable to the handlers instead.

The web UI's pages carry no token: after a login they have a session cookie
(server/sessions.py). :func:`standalone_authenticator` accepts it on three
conditions: the request comes from the server's own origin (``Origin`` and
``Sec-Fetch-Site`` say so when the browser sends them), every state-changing
request repeats the ``_xsrf`` cookie in an ``X-XSRFToken`` header (tornado's
XSRF check), and the session is live. A request that carries a token is
judged by the token alone.
"""

from __future__ import annotations

import hmac
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING, Awaitable, Callable, Optional, Union

import tornado.web
import tornado.websocket

from .access import ALL_SCOPES, Identity
from .private_files import ensure_secret

if TYPE_CHECKING:
    from .sessions import SessionKeeper

__all__ = ["ensure_token", "token_authenticator", "standalone_authenticator", "request_token", "same_origin",
           "Authenticate"]

# Given a request handler, returns the caller (server/access.py), or None when unauthenticated;
# a plain user name stands for a one-person host's user with every scope. May be async.
Authenticate = Callable[[object], Union[Optional[Identity], Optional[str], Awaitable[Optional[Identity]]]]


def ensure_token(data_dir: Path) -> str:
    """Read the server's token (making its file 0600), creating it when there is none."""
    return ensure_secret(Path(data_dir) / "server.token", new_bytes=32)


def request_token(handler: object) -> str:
    """The token a request carries: ``Authorization: token T`` (or Bearer).

    ``?token=T`` counts only on a WebSocket, which a browser cannot give a
    header; elsewhere a token in the URL is ignored (the request is then
    unauthenticated), since URLs end up in logs, histories and proxies.
    """
    request = handler.request  # type: ignore[attr-defined]
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() in ("token", "bearer") and value:
        return value.strip()
    if isinstance(handler, tornado.websocket.WebSocketHandler):
        return handler.get_query_argument("token", "")
    return ""


def token_authenticator(token: str, owner: str = "local") -> Authenticate:
    """An ``authenticate`` callable accepting exactly ``token``, as user ``owner`` with every scope.

    The standalone server has one user, who owns every dispatch it holds: being
    its own admin changes nothing but lets it list with ``?all=1`` as an admin would.
    """
    expected = token.encode()
    identity = Identity(owner, ALL_SCOPES)

    def authenticate(handler: object) -> Optional[Identity]:
        given = request_token(handler).encode()
        return identity if given and hmac.compare_digest(given, expected) else None
    return authenticate


_SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def same_origin(handler: object) -> bool:
    """Whether the browser says the request comes from a page of this server's own origin.

    ``Sec-Fetch-Site`` (when sent) must be ``same-origin`` or ``none`` (typed
    in, a bookmark); ``Origin`` (when sent) must name this host and port.
    Another port of the same host is another origin: cookies do not tell
    ports apart, so this check does.
    """
    headers = handler.request.headers  # type: ignore[attr-defined]
    if headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
        return False
    origin = headers.get("Origin")
    if origin is None:
        return True
    parts = urllib.parse.urlsplit(origin)
    return bool(parts.netloc) and parts.netloc.lower() == handler.request.host.lower()  # type: ignore[attr-defined]


def standalone_authenticator(token: str, sessions: "SessionKeeper", owner: str = "local") -> Authenticate:
    """The standalone server's ``authenticate``: the token, or a browser session used as the module says.

    A session request from another origin, or a state-changing one without
    the XSRF header, is refused with a 403 that says so.
    """
    by_token = token_authenticator(token, owner)
    identity = Identity(owner, ALL_SCOPES)

    def authenticate(handler: object) -> Optional[Identity]:
        if request_token(handler):
            return by_token(handler)
        if not sessions.from_request(handler):
            return None
        if not same_origin(handler):
            raise tornado.web.HTTPError(403, "a browser session works only from this server's own pages "
                                             "(this request came from another origin)")
        method = handler.request.method  # type: ignore[attr-defined]
        if method not in _SAFE_METHODS and not isinstance(handler, tornado.websocket.WebSocketHandler):
            try:
                tornado.web.RequestHandler.check_xsrf_cookie(handler)  # type: ignore[arg-type]
            except tornado.web.HTTPError:
                raise tornado.web.HTTPError(403, f"{method} with a browser session needs the '_xsrf' cookie's "
                                                 "value in an 'X-XSRFToken' header") from None
        return identity
    return authenticate
