"""Pickling of user payloads and the content keys that name them.

Only clients and the task runner call :func:`loads`; the dispatcher service
treats every payload as opaque bytes named by :func:`blob_key`.
"""

from __future__ import annotations

import hashlib
from typing import Any

import cloudpickle

__all__ = ["blob_key", "dumps", "loads"]


def dumps(obj: Any) -> bytes:
    """Serialize ``obj`` with cloudpickle (functions defined in notebooks included)."""
    return cloudpickle.dumps(obj)


def loads(data: bytes | memoryview) -> Any:
    """Deserialize bytes made by :func:`dumps`."""
    return cloudpickle.loads(data)


def blob_key(data: bytes | memoryview) -> str:
    """The content key of a payload: the lowercase hex SHA-256 of its bytes."""
    return hashlib.sha256(data).hexdigest()
