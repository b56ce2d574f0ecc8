"""Request bodies as JSON, with bounded nesting: the one parser every handler uses.

Python's json module recurses once per level of nesting, so a body nested a
thousand levels deep would end in a RecursionError (an HTTP 500) or worse.
:func:`parse_json` first measures the nesting depth with a few passes of C
string operations (no recursion, no per-character Python loop) and refuses
anything deeper than :data:`MAX_DEPTH`; only then does it parse.

The parse calls a small Python hook for every object and integer. Besides
refusing integers too long to be sane and the non-standard constants (NaN,
Infinity), this lets a parse running in a worker thread hand the GIL back to
the event loop many times over, so a body of many megabytes parsed with
``asyncio.to_thread(parse_json, body)`` does not freeze the server.
:func:`dumps_in_pieces` is the way back for such a document (a manifest of
many thousand tasks, stored as JSON text): the same text as ``json.dumps``,
made an item of each long list at a time.
"""

from __future__ import annotations

import json
import math
from typing import Any, Iterator

__all__ = ["JsonBodyError", "MAX_DEPTH", "MAX_INT_DIGITS", "dumps_in_pieces", "json_depth_exceeds", "loads_stored",
           "parse_json"]

MAX_DEPTH = 64
"""Arrays and objects may be nested this many levels deep, no deeper."""
MAX_INT_DIGITS = 40
"""An integer in a body has at most this many digits (the API's integers fit in 64 bits)."""

_COMPACT = json.JSONEncoder(separators=(",", ":"))
_PIECES_FROM = 100
"""A top-level list of more items than this is encoded an item at a time."""
_PIECE = 256 * 1024
# Everything but brackets and quotes, dropped before the depth is measured.
_NOT_STRUCTURE = bytes(c for c in range(256) if c not in b'[]{}"')
# Opening and closing brackets of either kind become one kind: only the depth matters here.
_ONE_BRACKET = bytes.maketrans(b"{}", b"[]")


class JsonBodyError(ValueError):
    """The body is not JSON the API takes; the message says why."""


def json_depth_exceeds(data: bytes, max_depth: int = MAX_DEPTH) -> bool:
    """True when arrays and objects in the JSON text ``data`` nest deeper than ``max_depth``.

    Brackets inside strings do not count. Text that is not valid JSON may get
    either answer; the parse refuses it anyway.
    """
    if data.count(b"[") + data.count(b"{") <= max_depth:
        return False
    outside, in_string = [], False
    for piece in _pieces(data):  # each C call short: the GIL changes hands between them
        # Escapes first: a pair of backslashes, then an escaped quote, are no string delimiters.
        parts = piece.replace(b"\\\\", b"").replace(b'\\"', b"").translate(None, _NOT_STRUCTURE).split(b'"')
        outside.append(b"".join(parts[1 if in_string else 0::2]))
        in_string ^= len(parts) % 2 == 0  # an odd number of quotes in the piece
    text = b"".join(outside).translate(_ONE_BRACKET)  # outside strings: brackets only
    # Each pass removes the innermost level; a text still holding a pair after max_depth
    # passes nests deeper than that.
    for _ in range(max_depth):
        shorter = text.replace(b"[]", b"")
        if len(shorter) == len(text):
            return False
        text = shorter
    return b"[]" in text


def _pieces(data: bytes) -> Iterator[bytes]:
    """``data`` in pieces of about :data:`_PIECE` bytes, never cutting a run of backslashes
    (nor a backslash from what it escapes)."""
    start = 0
    while start < len(data):
        end = min(start + _PIECE, len(data))
        while end < len(data) and data[end - 1] == 0x5C:
            end += 1
        yield data[start:end]
        start = end


def _object(value: dict[str, Any]) -> dict[str, Any]:
    return value


def _integer(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise JsonBodyError(f"an integer of {len(text)} digits; at most {MAX_INT_DIGITS}")
    return int(text)


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JsonBodyError(f"the number {text[:40]} is too large")
    return value


def _stored_integer(text: str) -> int:
    return int(text)


def _constant(name: str) -> Any:
    raise JsonBodyError(f"{name} is not JSON")


def parse_json(data: bytes | str, max_depth: int = MAX_DEPTH) -> Any:
    """The JSON value in ``data`` (an empty body is None).

    Raises JsonBodyError when it is not JSON (or not UTF-8), nests deeper
    than ``max_depth``, holds an integer of more than :data:`MAX_INT_DIGITS`
    digits, a number too large for a float, or NaN or Infinity. Safe to call from a worker thread.
    """
    raw = data.encode() if isinstance(data, str) else bytes(data)
    if not raw.strip():
        return None
    if json_depth_exceeds(raw, max_depth):
        raise JsonBodyError(f"it nests arrays and objects deeper than {max_depth} levels")
    try:
        return json.loads(raw, object_hook=_object, parse_int=_integer, parse_float=_float,
                          parse_constant=_constant)
    except JsonBodyError:
        raise
    except RecursionError:  # the depth check should have caught it; never let it out
        raise JsonBodyError(f"it nests arrays and objects deeper than {max_depth} levels") from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise JsonBodyError(str(exc)) from None


def dumps_in_pieces(value: dict[str, Any]) -> str:
    """``json.dumps(value, separators=(",", ":"))``, each long list of a top-level key made an item at a time.

    The text is the same; the GIL is handed back between items, so a worker
    thread encoding a big manifest does not hold up the event loop.
    """
    parts = []
    for key, item in value.items():
        if isinstance(item, list) and len(item) > _PIECES_FROM:
            text = "[" + ",".join([_COMPACT.encode(entry) for entry in item]) + "]"
        else:
            text = _COMPACT.encode(item)
        parts.append(f"{_COMPACT.encode(key)}:{text}")
    return "{" + ",".join(parts) + "}"


def loads_stored(text: str) -> Any:
    """JSON the server wrote itself (a stored manifest), parsed without checks but with the same
    hooks as :func:`parse_json`, so that a worker thread parsing it hands the GIL back often."""
    return json.loads(text, object_hook=_object, parse_int=_stored_integer)
