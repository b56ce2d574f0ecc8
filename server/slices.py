"""Long loops on the event loop's thread, cut into slices so that other requests get their turn.

A loop over the tasks of a big dispatch (tens of thousands) is written once,
as a generator that yields whenever its :class:`SliceClock` says the slice
has had its time, and returns its result. :func:`run_through` runs it at once
(for callers that cannot wait); :func:`run_sliced` gives the event loop a
turn at every yield, so the server keeps answering while the loop runs.
An ``async`` loop asks the same clock and awaits :func:`pause`.

A turn is a short sleep (:data:`PAUSE_SECONDS`), not ``sleep(0)``: a request
takes several turns of the event loop to be read, handled and answered, and
one turn between slices would make it wait several slices.
"""

from __future__ import annotations

import asyncio
import time
from typing import Generator, TypeVar

__all__ = ["PAUSE_SECONDS", "SLICE", "SLICE_SECONDS", "SliceClock", "Steps", "pause", "run_through", "run_sliced"]

SLICE = 1000
"""Items of a cheap, uniform kind (payload look-ups, rows) handled in one go; also the size from
which a dispatch is created in slices."""
SLICE_SECONDS = 0.02
"""How long a sliced loop holds the event loop before it pauses."""
PAUSE_SECONDS = 0.002
"""How long a sliced loop lets the event loop run between two slices."""

T = TypeVar("T")
Steps = Generator[None, None, T]
"""A sliced loop: yields None between slices, returns its result."""


class SliceClock:
    """Tells a loop when its slice has had :data:`SLICE_SECONDS`; the next slice starts at its next item."""

    __slots__ = ("_started",)

    def __init__(self) -> None:
        self._started: float | None = None

    def ends(self) -> bool:
        """Ask once per item: True when the loop should give the event loop a turn now."""
        now = time.perf_counter()
        if self._started is None:
            self._started = now
            return False
        if now - self._started < SLICE_SECONDS:
            return False
        self._started = None
        return True


def run_through(steps: Steps[T]) -> T:
    """Run a sliced loop to its end at once; its result."""
    while True:
        try:
            next(steps)
        except StopIteration as stop:
            return stop.value


async def pause() -> None:
    """Let the event loop run other work for :data:`PAUSE_SECONDS` (between two slices)."""
    await asyncio.sleep(PAUSE_SECONDS)


async def run_sliced(steps: Steps[T]) -> T:
    """Run a sliced loop, pausing between slices; its result."""
    while True:
        try:
            next(steps)
        except StopIteration as stop:
            return stop.value
        await pause()
