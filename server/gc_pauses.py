"""Keeps the cyclic garbage collector from holding the event loop for long while big dispatches live.

A full collection of CPython's collector scans every container object it
tracks. With a dispatch of 50,000 tasks in memory (its parsed manifest and its
run state: about a million objects) one scan takes 100-200 ms on the event
loop's thread (or on a worker thread, which holds the GIL meanwhile), and
building those objects triggers several. So:

- while a big dispatch is built (:meth:`CollectorPauses.building`: its body
  parsed, checked, stored, its run state made), automatic collections wait;
- once it is built, every object then alive is frozen out of the collector's
  scans (``gc.freeze``). Frozen objects are still freed as soon as nothing
  refers to them; only a reference cycle among them waits for
  ``gc.unfreeze``, which comes when the last big dispatch has ended
  (:meth:`CollectorPauses.ended`).

While it is built, the GIL also changes hands more often (every
:data:`SWITCH_SECONDS` instead of 5 ms): the worker thread that parses and
checks it computes without pause, and each of the many times the event
loop's thread needs the GIL to serve a request it waits less.
"""

from __future__ import annotations

import contextlib
import gc
import sys
from typing import Iterator

__all__ = ["CollectorPauses", "SWITCH_SECONDS"]

SWITCH_SECONDS = 0.0005
"""The GIL's switch interval while a big dispatch is built."""


class CollectorPauses:
    """Collections deferred (and the GIL switched often) while big dispatches are built; their objects
    frozen while they run."""

    def __init__(self) -> None:
        self._building = 0
        self._was_enabled = True
        self._switch_interval = sys.getswitchinterval()
        self._alive: set[str] = set()
        self._kept = False  # a big dispatch was kept since the outermost building() began
        self._frozen = False

    @contextlib.contextmanager
    def building(self) -> Iterator[None]:
        """No automatic collection inside; afterwards, objects alive are frozen if a big dispatch was kept
        inside (only then: a view of one, say, is built here too, and its objects are gone after it)."""
        if self._building == 0:
            self._was_enabled = gc.isenabled()
            gc.disable()
            self._switch_interval = sys.getswitchinterval()
            sys.setswitchinterval(min(self._switch_interval, SWITCH_SECONDS))
        self._building += 1
        try:
            yield
        finally:
            self._building -= 1
            if self._building == 0:
                if self._kept and self._alive:
                    gc.freeze()
                    self._frozen = True
                self._kept = False
                self._thaw_if_done()
                if self._was_enabled:
                    gc.enable()
                sys.setswitchinterval(self._switch_interval)

    def keep(self, dispatch_id: str) -> None:
        """A big dispatch was built (call inside :meth:`building`): freeze its objects until it ends."""
        self._alive.add(dispatch_id)
        self._kept = True

    def ended(self, dispatch_id: str) -> None:
        """A dispatch ended; after the last big one, frozen objects return to the collector."""
        self._alive.discard(dispatch_id)
        self._thaw_if_done()

    def _thaw_if_done(self) -> None:
        if self._frozen and not self._alive and not self._building:
            gc.unfreeze()
            self._frozen = False
