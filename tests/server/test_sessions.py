"""Browser sessions of the standalone server (server/sessions.py), without HTTP."""

from __future__ import annotations

import stat
import time

import pytest

from covalent_nb.server import sessions as sessions_module
from covalent_nb.server.log_redaction import TornadoTokenFilter, redact
from covalent_nb.server.sessions import CODE_SECONDS, MAX_CODES, SessionKeeper, ensure_cookie_secret


def test_the_cookie_secret_is_private_and_kept(tmp_path) -> None:
    secret = ensure_cookie_secret(tmp_path)
    path = tmp_path / "cookie_secret"
    assert len(secret) >= 32 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert ensure_cookie_secret(tmp_path) == secret  # the same after a restart: sessions survive it
    path.write_text("short")
    assert ensure_cookie_secret(tmp_path) != "short"


def test_sessions_end_on_logout_and_with_a_new_token(tmp_path) -> None:
    keeper = SessionKeeper(tmp_path, "token-one", "covalent_nb_session_1")
    value = keeper.new_session()
    assert keeper.is_valid(value) and keeper.is_valid(value.encode())
    assert not keeper.is_valid(None) and not keeper.is_valid("") and not keeper.is_valid("no-tag")
    keeper.end(value)
    assert not keeper.is_valid(value)
    assert keeper.is_valid(keeper.new_session())  # others go on
    renewed = SessionKeeper(tmp_path, "token-two", "covalent_nb_session_1")
    assert not renewed.is_valid(SessionKeeper(tmp_path, "token-one", "x").new_session())


def test_a_code_works_once_and_only_its_hash_is_kept(tmp_path) -> None:
    keeper = SessionKeeper(tmp_path, "token", "c")
    code = keeper.new_code()
    assert code not in repr(vars(keeper))
    assert not keeper.redeem("made-up") and not keeper.redeem(None) and not keeper.redeem("x" * 500)
    assert keeper.redeem(code)
    assert not keeper.redeem(code)


def test_codes_expire(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    keeper = SessionKeeper(tmp_path, "token", "c")
    code = keeper.new_code()
    later = time.time() + CODE_SECONDS + 1
    monkeypatch.setattr(sessions_module.time, "time", lambda: later)
    assert not keeper.redeem(code)


def test_unused_codes_are_bounded(tmp_path) -> None:
    keeper = SessionKeeper(tmp_path, "token", "c")
    first = keeper.new_code()
    for _ in range(MAX_CODES):
        keeper.new_code()
    assert len(keeper._codes) == MAX_CODES
    assert not keeper.redeem(first)  # the oldest went first


def test_a_code_in_a_logged_url_is_redacted() -> None:
    assert redact("302 GET /ui/login?once=abc-DEF_123&next=%23%2F (127.0.0.1)") == \
        "302 GET /ui/login?once=[redacted]&next=%23%2F (127.0.0.1)"
    record = __import__("logging").LogRecord("tornado.general", 30, "", 0, "bad request %s", ("/ui/login?once=xyz",),
                                             None)
    TornadoTokenFilter().filter(record)
    assert record.getMessage() == "bad request /ui/login?once=[redacted]"
