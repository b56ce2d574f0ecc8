"""Authentication of API calls for the standalone server: one token per server.

The token lives in ``<data_dir>/server.token`` (mode 0600) so that clients of
the same user on the same machine find it; remote clients are given it.
Hosts with their own identity system (Jupyter, JupyterHub) pass another
``authenticate`` callable to the handlers instead.
"""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path
from typing import Callable, Optional

import tornado.websocket

__all__ = ["ensure_token", "token_authenticator", "request_token", "Authenticate"]

# Given a request handler, returns the caller's user name, or None when unauthenticated.
Authenticate = Callable[[object], Optional[str]]


def ensure_token(data_dir: Path) -> str:
    """Read the server's token (making its file 0600), creating it when there is none."""
    path = Path(data_dir) / "server.token"
    if path.exists():
        os.chmod(path, 0o600)  # one left readable to others by an older version or by hand
        token = path.read_text().strip()
        if token:
            return token
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token + "\n")
    os.chmod(path, 0o600)
    return token


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
    """An ``authenticate`` callable accepting exactly ``token``, as user ``owner``."""
    expected = token.encode()

    def authenticate(handler: object) -> Optional[str]:
        given = request_token(handler).encode()
        return owner if given and hmac.compare_digest(given, expected) else None
    return authenticate
