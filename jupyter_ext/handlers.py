"""The dispatcher's API handlers under Jupyter's identity provider and authorizer.

Each handler of the standalone API is combined with jupyter_server's
``APIHandler`` (identity, XSRF, CORS, host and origin checks), and every
call is authorized on its own resource, ``covalent`` (read for GET, write
for the rest), so the extension is exactly as safe as its server.

One other credential is accepted: the dispatcher's own token, which it keeps
in its data directory (``server.token``, mode 0600, as the standalone server
does). Another Jupyter server of the same user whose dispatcher cannot start
on the same data directory reads it there to send its kernels here. A caller
with that token passes Jupyter's host check and acts as the server's owner;
it carries no cookie, so it needs no XSRF check.
"""

from __future__ import annotations

import getpass
import hmac
from typing import Any

import tornado.web
from jupyter_server.auth.decorator import HTTP_METHOD_TO_AUTH_ACTION
from jupyter_server.base.handlers import APIHandler, JupyterHandler
from jupyter_server.utils import ensure_async

from covalent_nb.server.auth import request_token

__all__ = ["AUTH_RESOURCE", "jupyter_handlers"]

AUTH_RESOURCE = "covalent"


#: Whose dispatches these are. A Jupyter server is one person's (under JupyterHub too: one
#: server per user); its identity provider may name token-authenticated callers anew on every
#: request, so the owner is the server's, not the caller's name.
SERVER_OWNER = getpass.getuser()


async def authenticate_jupyter_user(handler: Any) -> str | None:
    """The server's owner when Jupyter authenticated the request and authorizes it on ``covalent``."""
    if getattr(handler, "by_dispatcher_token", False):
        return SERVER_OWNER
    user = handler.current_user
    if not user:
        return None
    action = HTTP_METHOD_TO_AUTH_ACTION.get(handler.request.method.upper(), "write")
    allowed = await ensure_async(handler.authorizer.is_authorized(handler, user, action, AUTH_RESOURCE))
    return SERVER_OWNER if allowed else None


class _JupyterAuth:
    """Put Jupyter's request checks in front of a covalent-nb handler."""

    auth_resource = AUTH_RESOURCE
    unauthenticated_status = 403
    unauthenticated_message = ("not authenticated or not authorized by the Jupyter server: send its token "
                               "('Authorization: token <token>') or its login cookie")
    dispatcher_token = ""  # set per mount by jupyter_handlers
    by_dispatcher_token = False

    async def prepare(self) -> None:
        if self._carries_dispatcher_token():
            if not JupyterHandler.check_host(self):  # type: ignore[arg-type]
                raise tornado.web.HTTPError(403)
            self.by_dispatcher_token = True
            self.current_user = self._jupyter_current_user = None  # not a Jupyter user
        else:
            await APIHandler.prepare(self)  # type: ignore[arg-type]  # identity, XSRF, CORS, origin
        await super().prepare()  # type: ignore[misc]  # the covalent-nb handler: authorize, then its own

    def _carries_dispatcher_token(self) -> bool:
        given = request_token(self)
        return bool(self.dispatcher_token and given) and hmac.compare_digest(
            given.encode(), self.dispatcher_token.encode())

    def check_xsrf_cookie(self) -> None:
        try:
            return APIHandler.check_xsrf_cookie(self)  # type: ignore[arg-type]
        except tornado.web.HTTPError:
            # A valid token skips the XSRF check, so a client that sent a token sent a wrong
            # one: say that, not "'_xsrf' argument missing". Cookie callers keep Jupyter's answer.
            if self.request.headers.get("Authorization"):
                raise tornado.web.HTTPError(self.unauthenticated_status, self.unauthenticated_message,
                                            reason="not authenticated") from None
            raise

    def check_origin(self, origin: str | None = None) -> bool:
        return JupyterHandler.check_origin(self, origin)  # type: ignore[arg-type]


def _jupyter_class(handler: type, dispatcher_token: str) -> type:
    return type(f"Jupyter{handler.__name__}", (_JupyterAuth, handler, APIHandler), {
        "__doc__": f"{handler.__doc__} (under Jupyter's auth)", "dispatcher_token": dispatcher_token})


def jupyter_handlers(routes: list[tuple[str, type, dict[str, Any]]],
                     dispatcher_token: str = "") -> list[tuple[str, type, dict[str, Any]]]:
    """The same routes with each handler under Jupyter's auth and ``authenticate_jupyter_user``.

    ``dispatcher_token`` (the dispatcher's ``server.token``), when given, is accepted too.
    """
    out = []
    for pattern, handler, kwargs in routes:
        out.append((pattern, _jupyter_class(handler, dispatcher_token),
                    dict(kwargs, authenticate=authenticate_jupyter_user)))
    return out
