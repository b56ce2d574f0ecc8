"""Pickling of user payloads and the content keys that name them.

Only clients and the task runner call :func:`loads`; the dispatcher service
treats every payload as opaque bytes named by :func:`blob_key`.
"""

from __future__ import annotations

import hashlib
import io
from collections import ChainMap
from typing import Any

import cloudpickle

from covalent_nb._code_source import REDUCERS

__all__ = ["blob_key", "dumps", "loads"]


class _Pickler(cloudpickle.Pickler):
    """cloudpickle's pickler; code objects keep their file name and bring their source lines."""

    # cloudpickle's table is a ChainMap itself: its maps join this one, so a lookup is one level deep
    dispatch_table = ChainMap(REDUCERS, *cloudpickle.Pickler.dispatch_table.maps)


def dumps(obj: Any) -> bytes:
    """Serialize ``obj`` with cloudpickle (functions defined in notebooks included).

    Code pickled by value (functions from scripts, notebook cells, modules
    registered by value) brings its file name and source lines, so that a
    traceback through it where it is loaded names its file and shows its lines.
    """
    buffer = io.BytesIO()
    _Pickler(buffer, protocol=cloudpickle.DEFAULT_PROTOCOL).dump(obj)
    return buffer.getvalue()


def loads(data: bytes | memoryview) -> Any:
    """Deserialize bytes made by :func:`dumps`."""
    return cloudpickle.loads(data)


def blob_key(data: bytes | memoryview) -> str:
    """The content key of a payload: the lowercase hex SHA-256 of its bytes."""
    return hashlib.sha256(data).hexdigest()
