"""Query-string parameters of the HTTP API, checked where they enter.

Each parser takes the parameter's text (None when it is absent) and returns
its value, or raises :class:`QueryArgError` saying what it may be; the
handlers answer that with a 400. Limits are documented in docs/internals.md.
"""

from __future__ import annotations

import math
import re

from covalent_nb._status import Status

__all__ = ["QueryArgError", "DEFAULT_LIST_LIMIT", "MAX_LIST_LIMIT", "parse_limit", "parse_flag",
           "parse_seconds", "parse_cursor", "make_cursor", "parse_statuses", "parse_search", "MAX_SEARCH_CHARS",
           "parse_user_name", "MAX_USER_NAME_CHARS"]

DEFAULT_LIST_LIMIT = 100
"""Dispatches ``GET dispatches`` lists when ``limit`` is not given."""
MAX_LIST_LIMIT = 1000
"""Dispatches one page of ``GET dispatches`` holds at most; a larger ``limit`` is taken as this."""
MAX_SEARCH_CHARS = 200
"""Characters of a listing's ``search`` text."""
MAX_USER_NAME_CHARS = 200
"""Characters of a user name in a listing's ``owner``."""
_NUMBER_CHARS = 100
_CURSOR = re.compile(r"([0-9.eE+\-]{1,32})_([A-Za-z0-9\-]{1,200})")


class QueryArgError(ValueError):
    """A query parameter that is not what it may be; the message says what it may be."""


def parse_limit(text: str | None, default: int = DEFAULT_LIST_LIMIT, maximum: int = MAX_LIST_LIMIT) -> int:
    """A count from 1 up; ``default`` when absent, ``maximum`` when larger than that."""
    if text is None:
        return default
    value = text.strip()
    if not (0 < len(value) <= _NUMBER_CHARS and value.lstrip("+").isdigit() and value.isascii()):
        raise QueryArgError(f"must be a whole number from 1 to {maximum}, not {_shown(text)}")
    count = int(value)
    if count < 1:
        raise QueryArgError(f"must be a whole number from 1 to {maximum}, not {_shown(text)}")
    return min(count, maximum)


def parse_flag(text: str | None, default: bool = False) -> bool:
    """``1``/``true``/``yes`` or ``0``/``false``/``no`` (any case); ``default`` when absent."""
    if text is None:
        return default
    value = text.strip().lower()
    if value in ("1", "true", "yes"):
        return True
    if value in ("0", "false", "no", ""):
        return False
    raise QueryArgError(f"must be 1 or 0 (true or false), not {_shown(text)}")


def parse_seconds(text: str | None, default: float, maximum: float) -> float:
    """A number of seconds from 0 up; ``default`` when absent, ``maximum`` when larger than that."""
    if text is None:
        return default
    try:
        if len(text) > _NUMBER_CHARS:
            raise ValueError
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not (seconds >= 0 and math.isfinite(seconds)):
        raise QueryArgError(f"must be a number of seconds from 0 to {maximum:g}, not {_shown(text)}")
    return min(seconds, maximum)


def make_cursor(created: float, dispatch_id: str) -> str:
    """The cursor naming the place of a dispatch in the newest-first listing (``next``)."""
    return f"{float(created)!r}_{dispatch_id}"


def parse_cursor(text: str | None) -> tuple[float, str] | None:
    """``(created, dispatch id)`` from a cursor made by :func:`make_cursor`; None when absent."""
    if text is None:
        return None
    match = _CURSOR.fullmatch(text.strip())
    try:
        created = float(match.group(1)) if match else math.nan
    except ValueError:
        created = math.nan
    if match is None or not math.isfinite(created):
        raise QueryArgError(f"must be the 'next' of an earlier page, not {_shown(text)}")
    return created, match.group(2)


def parse_statuses(values: list[str]) -> list[str]:
    """Status names, each one of :class:`Status` (a value may list several, comma-separated)."""
    names = [name.strip().upper() for value in values for name in value.split(",") if name.strip()]
    known = [status.value for status in Status]
    for name in names:
        if name not in known:
            raise QueryArgError(f"{_shown(name)} is no status; use one of {', '.join(known)}")
    return list(dict.fromkeys(names))


def parse_search(text: str | None) -> str | None:
    """Text to look for in dispatch ids (a prefix) and names (anywhere); None when absent or blank."""
    if text is None or not text.strip():
        return None
    value = text.strip()
    if len(value) > MAX_SEARCH_CHARS or not value.isprintable():
        raise QueryArgError(f"must be printable text of at most {MAX_SEARCH_CHARS} characters, not {_shown(text)}")
    return value


def parse_user_name(text: str | None) -> str | None:
    """A user name (printable, no surrounding blanks, at most MAX_USER_NAME_CHARS); None when absent."""
    if text is None:
        return None
    if not (0 < len(text) <= MAX_USER_NAME_CHARS and text.isprintable() and text == text.strip()):
        raise QueryArgError(f"must be a user name: printable text of 1 to {MAX_USER_NAME_CHARS} characters "
                            f"without surrounding blanks, not {_shown(text)}")
    return text


def _shown(text: str) -> str:
    return repr(text) if len(text) <= 40 else repr(text[:37] + "...")
