"""The data directory is the server owner's alone: 0700, and nothing in it open to others.

It holds the API token, the local Dask cluster's TLS key, every dispatch's
inputs and results, and the server's log. However the server was started
(``covalent-nb start`` or ``serve``, the Jupyter extension) and whatever an
earlier version or a user left there, the directory is made 0700 and every
file and folder in it loses its group and other permission bits (0644
becomes 0600, an executable 0755 of an installed package 0700) as the
dispatcher starts. Files the server makes are created private from the start.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

__all__ = ["create_private_file", "ensure_secret", "make_private", "private_dir", "write_private_text"]

_OTHERS = stat.S_IRWXG | stat.S_IRWXO


def private_dir(directory: Path) -> None:
    """Create ``directory`` if needed (its missing parents as usual) and make it 0700."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(directory, 0o700)


def make_private(directory: Path) -> int:
    """Make ``directory`` 0700 and take group and other bits from all in it; how many entries changed.

    Symbolic links are left as they are and not followed.
    """
    directory = Path(directory)
    os.chmod(directory, 0o700)
    changed = 0
    for folder, dirs, files in os.walk(directory):
        for name in dirs + files:
            path = os.path.join(folder, name)
            try:
                mode = os.lstat(path).st_mode
                if stat.S_ISLNK(mode) or not mode & _OTHERS:
                    continue
                os.chmod(path, stat.S_IMODE(mode) & ~_OTHERS)
                changed += 1
            except FileNotFoundError:  # removed meanwhile (a temporary file)
                continue
    return changed


def create_private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 unless it exists (then make it 0600)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


def write_private_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` (replacing what it held) with mode 0600."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(text)


def ensure_secret(path: Path, new_bytes: int, min_length: int = 1) -> str:
    """The secret kept in ``path`` (made 0600); a new random one of ``new_bytes`` bytes, written
    there, when the file is missing or holds fewer than ``min_length`` characters."""
    path = Path(path)
    try:
        os.chmod(path, 0o600)  # one left readable to others by an older version or by hand
        secret = path.read_text().strip()
    except FileNotFoundError:
        secret = ""
    if len(secret) < min_length:
        path.parent.mkdir(parents=True, exist_ok=True)
        secret = secrets.token_urlsafe(new_bytes)
        write_private_text(path, secret + "\n")
    return secret
