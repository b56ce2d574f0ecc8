"""The content-addressed payload store.

Payloads are opaque bytes named by their SHA-256 in lowercase hex (their
*key*). Small ones (up to ``SMALL_LIMIT``) live in the SQLite database, so
that they become durable in the same transaction (one fsync) as the records
that name them; larger ones are files ``blobs/<key[:2]>/<key[2:]>``, written
to a temporary name in ``blobs/tmp``, synced and renamed into place, so a
reader never sees half a payload.

A key becomes a file name in exactly one place, :meth:`BlobStore.path_for`,
and every method taking a key goes through it: anything but 64 lowercase hex
digits raises :class:`InvalidBlobKey` before a file or row is touched.
"""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import BinaryIO, Iterator

__all__ = ["BlobStore", "BlobUpload", "InvalidBlobKey", "SMALL_LIMIT", "GRACE_SECONDS",
           "PARTIAL_PREFIX", "check_key"]

SMALL_LIMIT = 256 * 1024
GRACE_SECONDS = 3600.0
"""A payload no dispatch names yet stays this long: its dispatch's manifest may be on its way."""
PARTIAL_PREFIX = ".partial-"
"""Task runners spill outputs into ``blobs/<key[:2]>/`` under a temporary name starting with this."""
_CHUNK = 1024 * 1024
_MAX_UNCLAIMED = 100_000
_KEY = re.compile(r"[0-9a-f]{64}")
_DIR = re.compile(r"[0-9a-f]{2}")


class InvalidBlobKey(ValueError):
    """A payload key that is not 64 lowercase hex digits (the message quotes it, shortened)."""


def check_key(key: object) -> str:
    """``key`` itself when it is a payload key; InvalidBlobKey otherwise."""
    if isinstance(key, str) and _KEY.fullmatch(key):
        return key
    shown = repr(key) if len(repr(key)) <= 80 else repr(key)[:77] + "..."
    raise InvalidBlobKey(f"{shown} is not a payload key (64 lowercase hex digits: the sha256 of the payload)")


class BlobStore:
    """Payloads by content key, in SQLite (small) or files (large).

    Writes of small payloads join the caller's open transaction (see
    :meth:`ResultStore.transaction <covalent_nb.server.store.ResultStore.transaction>`).
    """

    def __init__(self, root: Path, db: sqlite3.Connection) -> None:
        self.root = Path(root)
        self.tmp_dir = self.root / "tmp"
        self.tmp_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._db = db
        self._unclaimed: dict[str, float] = {}
        self._open_uploads: set[Path] = set()

    @staticmethod
    def is_key(key: object) -> bool:
        """True when ``key`` has the form of a content key."""
        return isinstance(key, str) and _KEY.fullmatch(key) is not None

    def path_for(self, key: str) -> Path:
        """Where a large payload with this key lives (whether or not it exists).

        The only place a key becomes a path; InvalidBlobKey unless it is a key.
        """
        check_key(key)
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
        """Store ``data`` under ``key`` (the caller checked that it is the data's sha256).

        Small payloads are written in the caller's open transaction; storing
        one again marks it as fresh (see :meth:`stored_files`).
        """
        path = self.path_for(key)
        if len(data) <= SMALL_LIMIT:
            self._db.execute("INSERT INTO small_blobs(key, data, stored) VALUES (?, ?, ?)"
                             " ON CONFLICT(key) DO UPDATE SET stored=excluded.stored",
                             (key, bytes(data), time.time()))
            return
        if path.exists():
            os.utime(path)
            return
        fd, tmp = tempfile.mkstemp(dir=self.tmp_dir)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            self._move_into_place(Path(tmp), path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

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

    def remove(self, key: str) -> int:
        """Delete a payload (the caller made sure no dispatch names it) and who uploaded it; the bytes freed.

        A small payload's row goes in the caller's open transaction.
        """
        path = self.path_for(key)
        self._db.execute("DELETE FROM blob_holders WHERE key=?", (key,))
        try:
            size = path.stat().st_size
            path.unlink()
            return size
        except FileNotFoundError:
            pass
        row = self._db.execute("SELECT length(data) FROM small_blobs WHERE key=?", (key,)).fetchone()
        if row is None:
            return 0
        self._db.execute("DELETE FROM small_blobs WHERE key=?", (key,))
        return int(row[0])

    # ---- uploads ---------------------------------------------------------------

    def hold(self, owner: str, key: str) -> None:
        """Note that ``owner`` uploaded payload ``key`` (so has its content): it may name it in a manifest.

        Goes in the caller's open transaction.
        """
        self._db.execute("INSERT OR IGNORE INTO blob_holders(key, owner) VALUES (?,?)", (check_key(key), owner))

    def held_by(self, owner: str, key: str) -> bool:
        """Whether ``owner`` uploaded payload ``key`` (since it was last removed)."""
        return self._db.execute("SELECT 1 FROM blob_holders WHERE key=? AND owner=?",
                                (check_key(key), owner)).fetchone() is not None

    def begin_upload(self, key: str, limit: int) -> "BlobUpload":
        """Start a streamed upload that will be checked against ``key`` (InvalidBlobKey first)."""
        self.path_for(key)
        return BlobUpload(self, key, limit)

    def adopt_file(self, key: str, tmp_path: Path) -> None:
        """Move a finished, checked upload into place (small ones go to SQLite)."""
        path = self.path_for(key)
        if tmp_path.stat().st_size <= SMALL_LIMIT:
            self.put(key, tmp_path.read_bytes())
            tmp_path.unlink()
        else:
            self._move_into_place(tmp_path, path)
        if len(self._unclaimed) >= _MAX_UNCLAIMED:
            self._forget_old_uploads()
        self._unclaimed[key] = time.time()

    def claim(self, keys: list[str] | set[str]) -> None:
        """Payloads a dispatch now names: no longer kept back as uploads awaiting their manifest."""
        for key in keys:
            self._unclaimed.pop(key, None)

    def awaits_manifest(self, key: str, within: float = GRACE_SECONDS) -> bool:
        """True when ``key`` was uploaded in the last ``within`` seconds (at most ``GRACE_SECONDS``)
        and no dispatch named it since."""
        uploaded = self._unclaimed.get(check_key(key))
        if uploaded is None:
            return False
        if uploaded < time.time() - GRACE_SECONDS:
            del self._unclaimed[key]
            return False
        return uploaded >= time.time() - within

    def _forget_old_uploads(self) -> None:
        cutoff = time.time() - GRACE_SECONDS
        self._unclaimed = {k: t for k, t in self._unclaimed.items() if t >= cutoff}

    def _move_into_place(self, tmp: Path, path: Path) -> None:
        new_dir = not path.parent.exists()
        path.parent.mkdir(exist_ok=True, mode=0o700)
        os.replace(tmp, path)
        _fsync_dir(path.parent)
        if new_dir:
            _fsync_dir(self.root)

    # ---- what is on disk (for garbage collection) --------------------------------

    def stored_files(self) -> Iterator[tuple[str, float]]:
        """``(key, mtime)`` of every payload file, one two-digit folder at a time."""
        for folder in sorted(self._key_dirs()):
            for entry in os.scandir(folder):
                if entry.is_file() and _KEY.fullmatch(folder.name + entry.name):
                    try:
                        yield folder.name + entry.name, entry.stat().st_mtime
                    except FileNotFoundError:
                        continue

    def stored_rows(self) -> list[tuple[str, float]]:
        """``(key, stored)`` of every small payload in SQLite."""
        return self._db.execute("SELECT key, stored FROM small_blobs").fetchall()

    def temp_files(self, partial_before: float) -> list[Path]:
        """Leftover temporary files: those in ``tmp`` that no upload in flight writes, and
        runners' partial spills older than ``partial_before`` (a time)."""
        found = [p for p in self.tmp_dir.iterdir() if p not in self._open_uploads]
        for folder in self._key_dirs():
            for entry in os.scandir(folder):
                if entry.name.startswith(PARTIAL_PREFIX):
                    try:
                        if entry.stat().st_mtime < partial_before:
                            found.append(Path(entry.path))
                    except FileNotFoundError:
                        continue
        return found

    def _key_dirs(self) -> list[Path]:
        return [Path(e.path) for e in os.scandir(self.root) if e.is_dir() and _DIR.fullmatch(e.name)]


class BlobUpload:
    """A payload arriving in chunks: written to disk, hashed as it comes."""

    def __init__(self, store: BlobStore, key: str, limit: int) -> None:
        self.store = store
        self.key = check_key(key)
        self.limit = limit
        self.size = 0
        self._hash = hashlib.sha256()
        fd, name = tempfile.mkstemp(dir=store.tmp_dir)
        self.tmp_path = Path(name)
        store._open_uploads.add(self.tmp_path)
        self._file: BinaryIO = os.fdopen(fd, "wb")

    def write(self, chunk: bytes) -> None:
        """Append a chunk; ValueError once the size limit is passed."""
        self.size += len(chunk)
        if self.size > self.limit:
            raise ValueError(f"payload larger than the server's limit of {self.limit} bytes")
        self._hash.update(chunk)
        self._file.write(chunk)

    def finish(self) -> None:
        """Check the content key and make the payload durable; ValueError on a mismatch.

        The temporary file is gone afterwards, whatever happened.
        """
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            digest = self._hash.hexdigest()
            if digest != self.key:
                raise ValueError(f"payload does not match its key: sha256 is {digest}, not {self.key}")
            self.store.adopt_file(self.key, self.tmp_path)
        finally:
            self.abort()

    def abort(self) -> None:
        """Throw away what arrived (nothing once :meth:`finish` moved it into place)."""
        if not self._file.closed:
            self._file.close()
        self.tmp_path.unlink(missing_ok=True)
        self.store._open_uploads.discard(self.tmp_path)


def _fsync_dir(path: Path) -> None:
    """Make a rename or a new entry in the folder ``path`` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

