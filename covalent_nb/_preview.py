"""Text previews of values: a short, truncated repr that displays show instead of the value.

A preview is made where the value is already in memory (the task runner for
an output, the client for a parameter) and travels as text, so that the
server and the displays never unpickle anything to show it.
"""

from __future__ import annotations

import reprlib
from typing import Any

__all__ = ["PREVIEW_CHARS", "MAX_PREVIEW_CHARS", "text_preview", "bounded_preview"]

PREVIEW_CHARS = 2000
"""Characters of a preview as made here (an ellipsis marks a cut)."""

MAX_PREVIEW_CHARS = 4096
"""Characters of a preview the server accepts (in a manifest or a result frame); longer ones are cut."""

_repr = reprlib.Repr()
_repr.maxstring = 1000
_repr.maxlist = _repr.maxtuple = _repr.maxset = _repr.maxfrozenset = _repr.maxdeque = 50
_repr.maxdict = 30
_repr.maxarray = 50
_repr.maxlevel = 4
_repr.maxlong = 200
# numpy, pandas and friends shorten their own reprs, and reprlib would cut them at 1000 characters
# in the middle; "maxother" applies to them, so let them be as long as a preview and cut below.
_repr.maxother = PREVIEW_CHARS


def text_preview(value: Any, limit: int = PREVIEW_CHARS) -> str:
    """A repr of ``value`` of at most ``limit`` characters; never raises.

    Containers show their first items (``reprlib``); bytes are summarised
    without building their full repr; a failing ``__repr__`` gives
    ``<T object (repr failed: ...)>``.
    """
    if isinstance(value, (bytes, bytearray, memoryview)) and len(value) > 256:
        text = f"<{type(value).__name__} of {len(value)} bytes: {bytes(value[:64])!r}…>"
    else:
        try:
            text = _repr.repr(value)
        except Exception as exc:  # a user's __repr__ may raise anything
            text = f"<{type(value).__name__} object (repr failed: {type(exc).__name__})>"
    return _cut(text, limit)


def bounded_preview(text: Any, limit: int = MAX_PREVIEW_CHARS) -> str | None:
    """``text`` when it is a string (cut to ``limit`` characters), else None: for previews that come
    from elsewhere (a result frame) and are stored as they are."""
    return _cut(text, limit) if isinstance(text, str) else None


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"
