"""Binary frames: a JSON header plus named opaque byte blobs, in one buffer.

Task frames (server to runner) and result frames (runner to server) use this
layout so that the server can read the metadata without unpickling anything::

    b"CNBF" | u32 big-endian header length | header JSON | blob bytes ...

``header["_blobs"]`` lists ``[name, length]`` for the blobs in order.
"""

from __future__ import annotations

import json
import struct
from typing import Any, Mapping

__all__ = ["FrameError", "pack", "unpack", "unpack_meta"]

_MAGIC = b"CNBF"
_HEAD = struct.Struct(">4sI")


class FrameError(ValueError):
    """Raised when bytes are not a well-formed frame."""


def pack(meta: Mapping[str, Any], blobs: Mapping[str, bytes | memoryview] | None = None) -> bytes:
    """Pack ``meta`` (JSON-serializable) and ``blobs`` into one frame."""
    blobs = blobs or {}
    header = dict(meta)
    header["_blobs"] = [[name, len(data)] for name, data in blobs.items()]
    head = json.dumps(header, separators=(",", ":")).encode()
    parts: list[bytes | memoryview] = [_HEAD.pack(_MAGIC, len(head)), head]
    parts.extend(blobs.values())
    return b"".join(parts)


def _read_header(view: memoryview) -> tuple[dict[str, Any], int]:
    if len(view) < _HEAD.size:
        raise FrameError("frame too short")
    magic, head_len = _HEAD.unpack_from(view)
    if magic != _MAGIC:
        raise FrameError("not a covalent-nb frame (bad magic)")
    end = _HEAD.size + head_len
    if len(view) < end:
        raise FrameError("frame header truncated")
    try:
        meta = json.loads(bytes(view[_HEAD.size:end]))
    except ValueError as exc:
        raise FrameError(f"frame header is not JSON: {exc}") from None
    if not isinstance(meta, dict):
        raise FrameError("frame header is not a JSON object")
    return meta, end


def unpack_meta(data: bytes | memoryview) -> dict[str, Any]:
    """Read only the header of a frame (cheap: blobs are not touched)."""
    meta, _ = _read_header(memoryview(data))
    meta.pop("_blobs", None)
    return meta


def unpack(data: bytes | memoryview) -> tuple[dict[str, Any], dict[str, memoryview]]:
    """Split a frame into its header and its blobs (zero-copy memoryviews)."""
    view = memoryview(data)
    meta, offset = _read_header(view)
    blobs: dict[str, memoryview] = {}
    for name, length in meta.pop("_blobs", []):
        if offset + length > len(view):
            raise FrameError(f"blob {name!r} truncated")
        blobs[name] = view[offset:offset + length]
        offset += length
    return meta, blobs
