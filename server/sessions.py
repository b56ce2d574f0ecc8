"""Browser sessions of the standalone server: a signed cookie after a login, and one-time login codes.

A login (the token in the login form, or a one-time code) gives the browser a
cookie signed with the server's cookie secret (``cookie_secret`` in the data
directory, 0600, made once): HttpOnly, SameSite=Strict, limited to the URL
prefix, for ``server.session_days``. The cookie names a session and the token
it was given for, so a new token ends every session; logging out ends one.

A one-time code (what ``covalent-nb start`` prints and ``covalent-nb ui``
opens) is kept only as its SHA-256, for :data:`CODE_SECONDS`, and is gone
once used. Codes and ended sessions live in the server's memory: a restart
forgets the codes, and logged-out sessions then end when their cookie does.

How a cookie session may be used (same origin only, XSRF protection on
every state-changing request) is checked by ``server/auth.py``.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from pathlib import Path
from typing import Any

from .private_files import ensure_secret

__all__ = ["SessionKeeper", "CODE_SECONDS", "MAX_CODES", "ensure_cookie_secret"]

CODE_SECONDS = 600.0
"""How long a one-time login code may be used (once)."""
MAX_CODES = 100
"""Unused codes kept at most (the oldest go first)."""
_COOKIE_SECRET_FILE = "cookie_secret"


def ensure_cookie_secret(data_dir: Path) -> str:
    """The secret that signs session cookies (``<data_dir>/cookie_secret``, 0600), made when missing."""
    return ensure_secret(Path(data_dir) / _COOKIE_SECRET_FILE, new_bytes=48, min_length=32)


class SessionKeeper:
    """Sessions (signed cookie values) and one-time login codes of one server.

    ``cookie_name`` is the session cookie's name (the port is part of it:
    cookies do not tell ports apart, and two servers on one host must not
    log each other out); ``days`` its lifetime.
    """

    def __init__(self, data_dir: Path, token: str, cookie_name: str, days: float = 7.0) -> None:
        self.cookie_secret = ensure_cookie_secret(data_dir)
        self.cookie_name = cookie_name
        self.days = days
        self._token_tag = hashlib.sha256(token.encode()).hexdigest()[:16]
        self._ended: dict[str, float] = {}  # session id -> when its cookie would have expired
        self._codes: dict[str, float] = {}  # sha256 of a code -> when it expires

    # ---- sessions --------------------------------------------------------------------------

    def new_session(self) -> str:
        """The value of a new session's cookie (signed by tornado when set)."""
        return f"{secrets.token_urlsafe(18)}:{self._token_tag}"

    def is_valid(self, value: bytes | str | None) -> bool:
        """Whether a (verified, unexpired) cookie value names a live session for the current token."""
        if not value:
            return False
        text = value.decode() if isinstance(value, bytes) else value
        session, _, tag = text.partition(":")
        return bool(session) and secrets.compare_digest(tag, self._token_tag) and session not in self._ended

    def end(self, value: bytes | str | None) -> None:
        """Log a session out: its cookie no longer counts, even if it comes back."""
        if not value:
            return
        text = value.decode() if isinstance(value, bytes) else value
        now = time.time()
        self._ended = {s: until for s, until in self._ended.items() if until > now}
        self._ended[text.partition(":")[0]] = now + self.days * 86400

    def from_request(self, handler: Any) -> bool:
        """Whether the request carries the cookie of a live session."""
        return self.is_valid(handler.get_signed_cookie(self.cookie_name, max_age_days=self.days))

    def set_cookie(self, handler: Any, path: str) -> None:
        """Start a session: its cookie, HttpOnly, SameSite=Strict, under ``path``, for :attr:`days`."""
        handler.set_signed_cookie(self.cookie_name, self.new_session(), expires_days=self.days, path=path,
                                  max_age=int(self.days * 86400), httponly=True, samesite="Strict")

    def clear_cookie(self, handler: Any, path: str) -> None:
        """End the request's session and remove its cookie."""
        self.end(handler.get_signed_cookie(self.cookie_name, max_age_days=self.days))
        handler.clear_cookie(self.cookie_name, path=path)

    # ---- one-time codes --------------------------------------------------------------------

    def new_code(self) -> str:
        """A login code that works once, for :data:`CODE_SECONDS`; only its hash is kept."""
        now = time.time()
        self._codes = {digest: until for digest, until in self._codes.items() if until > now}
        while len(self._codes) >= MAX_CODES:
            del self._codes[min(self._codes, key=self._codes.__getitem__)]
        code = secrets.token_urlsafe(24)
        self._codes[_digest(code)] = now + CODE_SECONDS
        return code

    def redeem(self, code: str | None) -> bool:
        """Use a code: True (and it is gone) when it was issued, unused and unexpired."""
        if not code or len(code) > 200:
            return False
        until = self._codes.pop(_digest(code), None)
        return until is not None and until > time.time()


def _digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()
