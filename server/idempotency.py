"""Idempotent ``POST dispatches``: a retried request returns the first dispatch, creates nothing.

The client sends ``Idempotency-Key: <uuid>`` (one per ``ct.dispatch`` call).
The store keeps the key with the dispatch, in the transaction that creates
it, for ``IDEMPOTENCY_SECONDS`` (24 h). The same key again from the same
owner gets the first answer back; with a different body it is refused. A
retry that arrives while the first request is still being stored (a big
dispatch is stored in slices) waits for it (:class:`PendingRequests`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
from typing import Any, Iterator

from .store import ResultStore

__all__ = ["HEADER", "IdempotencyConflict", "PendingRequests", "Replay", "check_header", "find_replay",
           "request_digest"]

HEADER = "Idempotency-Key"
_KEY = re.compile(r"[A-Za-z0-9_.:\-]{8,128}")


class IdempotencyConflict(ValueError):
    """The key was used before with a different request body."""


Replay = tuple[str, list[dict[str, Any]]]
"""``(dispatch_id, warnings)`` of the dispatch an earlier request with the key created."""


def check_header(value: str | None) -> str | None:
    """The header's key, None when absent; ValueError (with what to send) when malformed."""
    if value is None:
        return None
    if not _KEY.fullmatch(value):
        shown = value if len(value) <= 60 else value[:57] + "..."
        raise ValueError(f"the {HEADER} header {shown!r} is not a key: send 8 to 128 letters, digits, "
                         "'_', '.', ':' or '-' (a UUID), new for each dispatch")
    return value


def request_digest(body: bytes) -> str:
    """What tells one request body from another (sha256)."""
    return hashlib.sha256(body).hexdigest()


def find_replay(store: ResultStore, owner: str, key: str, digest: str) -> Replay | None:
    """The answer of the earlier request with this key, None when there was none (or it expired).

    IdempotencyConflict when that request had another body.
    """
    found = store.find_request(owner, key)
    if found is None:
        return None
    first_digest, dispatch_id, warnings = found
    if first_digest != digest:
        raise IdempotencyConflict(f"the {HEADER} {key!r} was used for dispatch {dispatch_id} with another "
                                  "manifest; send a new key for a new dispatch")
    return dispatch_id, warnings


class PendingRequests:
    """Dispatch creations under way, by owner and idempotency key."""

    def __init__(self) -> None:
        self._running: dict[tuple[str, str], asyncio.Event] = {}

    async def wait_for(self, owner: str, key: str) -> None:
        """Return once no request of ``owner`` with ``key`` is being handled."""
        while (done := self._running.get((owner, key))) is not None:
            await done.wait()

    @contextlib.contextmanager
    def handling(self, owner: str, key: str | None) -> Iterator[None]:
        """Mark the request with ``key`` (None: nothing to mark) as being handled, until the block ends."""
        if key is None:
            yield
            return
        done = asyncio.Event()
        self._running[(owner, key)] = done
        try:
            yield
        finally:
            del self._running[(owner, key)]
            done.set()
