"""Per-thread capture of ``sys.stdout`` and ``sys.stderr`` for running tasks.

A Dask worker runs several tasks at once in threads of one process, so
``contextlib.redirect_stdout`` (which swaps the process-wide stream) would mix
their outputs. Instead, :func:`captured_output` installs once a proxy in
``sys.stdout`` and ``sys.stderr`` that writes to the current thread's buffer
while a capture is active in that thread, and to the original stream otherwise.

What is not captured: output written straight to file descriptors 1 and 2
(C extensions, child processes) and output of threads the task starts itself.
"""

from __future__ import annotations

import io
import sys
import threading
from typing import Any, TextIO

__all__ = ["CapturedOutput", "ThreadLocalStream", "captured_output", "install"]

_local = threading.local()
_install_lock = threading.Lock()


class CapturedOutput:
    """What one task wrote: ``stdout`` and ``stderr`` as strings (complete after the capture ends)."""

    __slots__ = ("_out", "_err")

    def __init__(self, echo: bool = False) -> None:
        if echo:
            self._out: io.StringIO = _EchoBuffer(sys.__stdout__)
            self._err: io.StringIO = _EchoBuffer(sys.__stderr__)
        else:
            self._out = io.StringIO()
            self._err = io.StringIO()

    @property
    def stdout(self) -> str:
        """Text written to ``sys.stdout`` so far."""
        return self._out.getvalue()

    @property
    def stderr(self) -> str:
        """Text written to ``sys.stderr`` so far."""
        return self._err.getvalue()

    def write_stdout(self, text: str) -> None:
        """Append ``text`` (for example a child process's output) to the captured stdout."""
        self._out.write(text)

    def write_stderr(self, text: str) -> None:
        """Append ``text`` to the captured stderr."""
        self._err.write(text)


class _EchoBuffer(io.StringIO):
    """A capture buffer that also writes through to a real stream, as it comes.

    Used where a task's process may be stopped before it can report (a time
    limit): what it printed so far is then still in the stream's file.
    """

    def __init__(self, stream: TextIO | None) -> None:
        super().__init__()
        self._stream = stream

    def write(self, text: str) -> int:
        count = super().write(text)
        if self._stream is not None:
            self._stream.write(text)
            self._stream.flush()
        return count


class ThreadLocalStream:
    """A text stream that writes to the calling thread's capture buffer, if any.

    ``attr`` is ``"_out"`` or ``"_err"``: which buffer of the active
    :class:`CapturedOutput` this stream feeds. Everything else (``encoding``,
    ``fileno``, ``isatty`` ...) is answered by the original stream.
    """

    def __init__(self, original: TextIO, attr: str) -> None:
        self._original = original
        self._attr = attr

    @property
    def original(self) -> TextIO:
        """The stream this proxy replaced."""
        return self._original

    def _target(self) -> TextIO:
        capture = getattr(_local, "capture", None)
        if capture is None:
            return self._original
        return getattr(capture, self._attr)

    def write(self, text: str) -> int:
        """Write to the thread's capture buffer, or to the original stream."""
        return self._target().write(text)

    def writelines(self, lines: Any) -> None:
        """Write each line, like :meth:`io.TextIOBase.writelines`."""
        self._target().writelines(lines)

    def flush(self) -> None:
        """Flush the stream currently written to."""
        self._target().flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._original, name)


def install() -> None:
    """Put :class:`ThreadLocalStream` proxies in ``sys.stdout``/``sys.stderr`` (idempotent).

    Checked on every capture, since test harnesses and notebooks may swap the
    streams again after the first install.
    """
    if isinstance(sys.stdout, ThreadLocalStream) and isinstance(sys.stderr, ThreadLocalStream):
        return
    with _install_lock:
        if not isinstance(sys.stdout, ThreadLocalStream):
            sys.stdout = ThreadLocalStream(sys.stdout, "_out")  # type: ignore[assignment]
        if not isinstance(sys.stderr, ThreadLocalStream):
            sys.stderr = ThreadLocalStream(sys.stderr, "_err")  # type: ignore[assignment]


class captured_output:  # noqa: N801 - used like a function: ``with captured_output() as out:``
    """Capture this thread's ``sys.stdout``/``sys.stderr`` writes while the block runs.

    ``with captured_output() as out:`` gives a :class:`CapturedOutput`; read
    ``out.stdout``/``out.stderr`` after the block (also when it raised). Nested
    captures in one thread each get only the output written while they are
    the innermost one. With ``echo`` the output also goes to the process's
    real stdout/stderr as it is written. (A class rather than a generator: it
    runs once per task.)
    """

    __slots__ = ("_capture", "_previous")

    def __init__(self, echo: bool = False) -> None:
        self._capture = CapturedOutput(echo)
        self._previous: CapturedOutput | None = None

    def __enter__(self) -> CapturedOutput:
        install()
        self._previous = getattr(_local, "capture", None)
        _local.capture = self._capture
        return self._capture

    def __exit__(self, *exc_info: object) -> None:
        _local.capture = self._previous
