"""Source lines that travel with pickled code, so that a task's traceback shows them on any worker.

cloudpickle pickles a function from a script, a notebook cell or a module
registered "by value" with its code object; its file stays behind. Since
cloudpickle 3.1.3 the code also loads under the file name ``<dynamic-code>``.
A task failing in such a function then showed neither its file nor its line.

:func:`reduce_code` pickles a code object as cloudpickle does, plus its real
file name and the lines of that file it spans. :func:`restore_code` rebuilds
the code under its real file name and enters those lines into
:mod:`linecache`, where :mod:`traceback` looks for them. Works for every
cloudpickle release from 3.0 and for IPython cells, which IPython enters into
:mod:`linecache` on the client (``/tmp/ipykernel_<pid>/<hash>.py`` names
in kernels, ``<ipython-input-...>`` in a terminal).
"""

from __future__ import annotations

import linecache
import threading
import types
from typing import Any, Callable

import cloudpickle

__all__ = ["REDUCERS", "reduce_code", "restore_code"]

_cloudpickle_reduce: Callable[[types.CodeType], tuple[Any, tuple[Any, ...]]] | None = (
    cloudpickle.Pickler.dispatch_table.get(types.CodeType))
_lines_lock = threading.Lock()


def reduce_code(code: types.CodeType) -> tuple[Any, tuple[Any, ...]]:
    """The pickle reduction of ``code``: cloudpickle's, wrapped to keep its file name and its lines.

    Only the lines the code spans are sent (not the whole file). Nested code
    objects (inner functions, lambdas, comprehensions) are reduced the same
    way; the line strings they share with the outer code are pickled once.
    """
    assert _cloudpickle_reduce is not None, "only used when cloudpickle reduces code in its dispatch_table"
    constructor, args = _cloudpickle_reduce(code)
    if constructor is not types.CodeType:  # a cloudpickle this module does not know: leave its reduction alone
        return constructor, args
    first, lines = _span(code)
    return restore_code, (args, code.co_filename, first, lines)


def restore_code(args: tuple[Any, ...], filename: str, first: int, lines: tuple[str, ...]) -> types.CodeType:
    """Rebuild a code object reduced by :func:`reduce_code` (called by unpickling).

    ``args`` are :class:`types.CodeType`'s arguments, ``filename`` the code's
    real file name, ``lines`` the source lines from line ``first`` on.
    """
    code = types.CodeType(*args)
    if code.co_filename != filename:
        code = code.replace(co_filename=filename)
    if lines:
        _remember_lines(filename, first, lines)
    return code


REDUCERS: dict[type, Callable[[Any], tuple[Any, tuple[Any, ...]]]] = (
    {types.CodeType: reduce_code} if _cloudpickle_reduce is not None else {})
"""Entries for a cloudpickle pickler's ``dispatch_table`` (none if this cloudpickle reduces code elsewhere)."""


def _span(code: types.CodeType) -> tuple[int, tuple[str, ...]]:
    """The first line of ``code`` and the source lines up to its last one; ``(0, ())`` when unknown."""
    linecache.checkcache(code.co_filename)  # the file may have changed since it was read (one stat)
    source = linecache.getlines(code.co_filename)
    if not source:
        return 0, ()
    first = code.co_firstlineno
    last = max((line for _, _, line in code.co_lines() if line is not None), default=first)
    return first, tuple(source[first - 1:last])


def _remember_lines(filename: str, first: int, lines: tuple[str, ...]) -> None:
    """Put ``lines`` at line ``first`` of ``filename`` in :mod:`linecache`, unless they are there already.

    Lines already known (the file itself on this machine, or lines that other
    code from it brought) are kept where the new ones do not cover them. The
    entry has no modification time, so :func:`linecache.checkcache` keeps it.
    """
    end = first - 1 + len(lines)
    with _lines_lock:
        known = linecache.getlines(filename)
        if tuple(known[first - 1:end]) == lines:
            return
        merged = list(known)
        if len(merged) < end:
            merged.extend("\n" for _ in range(end - len(merged)))
        merged[first - 1:end] = lines
        linecache.cache[filename] = (sum(map(len, merged)), None, merged, filename)
