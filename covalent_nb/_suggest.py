"""How an "unknown name" answer ends: what is offered, and the close names.

Every message about a name that is not known (an executor, a config key, a
subcommand) ends with :func:`choices_hint`, so they all read alike:
``unknown executor 'dask_typo' ...; this server offers: dask, local; did you mean 'dask'?``
Unknown ids, where a close one means nothing, end with the :func:`listing` alone.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["MAX_LISTED", "choices_hint", "close_names", "did_you_mean", "listing"]

MAX_LISTED = 30
"""A listing of more names than this shows the first ones and says how many more there are."""

_CUTOFF = 0.6


def close_names(name: str, choices: Iterable[str], limit: int = 3) -> list[str]:
    """The ``choices`` closest to ``name``, best first (difflib; case is ignored); [] when none is close."""
    by_folded: dict[str, str] = {}
    for choice in choices:
        by_folded.setdefault(str(choice).casefold(), str(choice))
    matches = difflib.get_close_matches(str(name).casefold(), list(by_folded), n=limit, cutoff=_CUTOFF)
    return [by_folded[match] for match in matches]


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """``"did you mean 'dask'?"`` (or ``"... 'a', 'b' or 'c'?"``), or ``""`` when no choice is close to ``name``."""
    close = [repr(choice) for choice in close_names(name, choices)]
    if not close:
        return ""
    said = close[-1] if len(close) == 1 else f"{', '.join(close[:-1])} or {close[-1]}"
    return f"did you mean {said}?"


def choices_hint(name: str, choices: Iterable[str], offered: str = "known names") -> str:
    """``"<offered>: a, b, c; did you mean 'a'?"``: the end of a message about the unknown ``name``.

    ``offered`` says who offers the choices, e.g. ``"this server offers"``;
    the choices are listed in the order given (at most :data:`MAX_LISTED`).
    """
    names = [str(choice) for choice in dict.fromkeys(choices)]
    suggestion = did_you_mean(name, names)
    return f"{offered}: {listing(names)}" + (f"; {suggestion}" if suggestion else "")


def listing(choices: Iterable[object]) -> str:
    """``"a, b, c"``: the choices in the order given, at most :data:`MAX_LISTED` of them; ``"(none)"``."""
    names = [str(choice) for choice in dict.fromkeys(choices)]
    text = ", ".join(names[:MAX_LISTED]) or "(none)"
    if len(names) > MAX_LISTED:
        text += f" and {len(names) - MAX_LISTED} more"
    return text
