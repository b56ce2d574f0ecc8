"""The content-addressed payload store.

Payloads are opaque bytes named by their SHA-256. Small ones (up to
``SMALL_LIMIT``) live in the SQLite database, so that they become durable in
the same transaction (one fsync) as the records that name them; larger ones
are files ``blobs/<key[:2]>/<key[2:]>``, written to a temporary name, synced
and renamed into place, so a reader never sees half a payload.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import tempfile
from pathlib import Path
from typing import BinaryIO, Iterator

__all__ = ["BlobStore", "BlobUpload", "SMALL_LIMIT"]

SMALL_LIMIT = 256 * 1024
_CHUNK = 1024 * 1024


def _valid_key(key: str) -> bool:
    return len(key) == 64 and all(c in "0123456789abcdef" for c in key)


class BlobStore:
    """Payloads by content key, in SQLite (small) or files (large)."""

    def __init__(self, root: Path, db: sqlite3.Connection) -> None:
        self.root = Path(root)
        self.tmp_dir = self.root / "tmp"
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        self._db = db

    @staticmethod
    def is_key(key: str) -> bool:
        """True when ``key`` has the form of a content key."""
        return _valid_key(key)

    def path_for(self, key: str) -> Path:
        """Where a large payload with this key lives (whether or not it exists)."""
        return self.root / key[:2] / key[2:]

    def file_path(self, key: str) -> Path | None:
        """The file holding this payload, or None when it is small or absent."""
        path = self.path_for(key)
        return path if path.exists() else None

    def has(self, key: str) -> bool:
        """True when the payload is stored."""
        if self.path_for(key).exists():
            return True
        row = self._db.execute("SELECT 1 FROM small_blobs WHERE key=?", (key,)).fetchone()
        return row is not None

    def size(self, key: str) -> int | None:
        """The payload's size in bytes, or None when it is not stored."""
        path = self.path_for(key)
        if path.exists():
            return path.stat().st_size
        row = self._db.execute("SELECT length(data) FROM small_blobs WHERE key=?", (key,)).fetchone()
        return None if row is None else int(row[0])

    def put(self, key: str, data: bytes | memoryview) -> None:
        """Store ``data`` under ``key`` (the caller checked the key).

        Small payloads are written in the caller's open transaction.
        """
        if len(data) <= SMALL_LIMIT:
            self._db.execute("INSERT OR IGNORE INTO small_blobs(key, data) VALUES (?, ?)",
                             (key, bytes(data)))
            return
        path = self.path_for(key)
        if path.exists():
            return
        path.parent.mkdir(exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.tmp_dir)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)

    def get(self, key: str) -> bytes:
        """The whole payload; KeyError when it is not stored."""
        path = self.path_for(key)
        if path.exists():
            return path.read_bytes()
        row = self._db.execute("SELECT data FROM small_blobs WHERE key=?", (key,)).fetchone()
        if row is None:
            raise KeyError(key)
        return bytes(row[0])

    def iter_chunks(self, key: str) -> Iterator[bytes]:
        """The payload in chunks of at most 1 MiB, for streaming responses."""
        path = self.path_for(key)
        if not path.exists():
            yield self.get(key)
            return
        with open(path, "rb") as handle:
            while chunk := handle.read(_CHUNK):
                yield chunk

    def begin_upload(self, key: str, limit: int) -> "BlobUpload":
        """Start a streamed upload that will be checked against ``key``."""
        return BlobUpload(self, key, limit)

    def adopt_file(self, key: str, tmp_path: Path) -> None:
        """Move a finished, checked upload into place (small ones go to SQLite)."""
        if tmp_path.stat().st_size <= SMALL_LIMIT:
            self.put(key, tmp_path.read_bytes())
            tmp_path.unlink()
            return
        path = self.path_for(key)
        path.parent.mkdir(exist_ok=True)
        os.replace(tmp_path, path)


class BlobUpload:
    """A payload arriving in chunks: written to disk, hashed as it comes."""

    def __init__(self, store: BlobStore, key: str, limit: int) -> None:
        self.store = store
        self.key = key
        self.limit = limit
        self.size = 0
        self._hash = hashlib.sha256()
        fd, name = tempfile.mkstemp(dir=store.tmp_dir)
        self.tmp_path = Path(name)
        self._file: BinaryIO = os.fdopen(fd, "wb")

    def write(self, chunk: bytes) -> None:
        """Append a chunk; ValueError once the size limit is passed."""
        self.size += len(chunk)
        if self.size > self.limit:
            raise ValueError(f"payload larger than the server's limit of {self.limit} bytes")
        self._hash.update(chunk)
        self._file.write(chunk)

    def finish(self) -> None:
        """Check the content key and make the payload durable; ValueError on a mismatch."""
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        digest = self._hash.hexdigest()
        if digest != self.key:
            self.abort()
            raise ValueError(f"payload does not match its key: sha256 is {digest}, not {self.key}")
        self.store.adopt_file(self.key, self.tmp_path)

    def abort(self) -> None:
        """Throw away what arrived."""
        if not self._file.closed:
            self._file.close()
        self.tmp_path.unlink(missing_ok=True)
