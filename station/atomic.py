"""Replace a small station file so that a crash leaves either the old or the new content.

Operator accounts, imported sequence numbers and the store's index.json are each one file
that must never be seen half-written: the data goes to a temp file beside it, is fsynced,
renamed over the old file, and the folder is fsynced so the rename survives a power cut.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def _fsync_opened(path: Path, flags: int) -> None:
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(folder: Path) -> None:
    """Make a rename or a new file in `folder` durable."""
    _fsync_opened(folder, os.O_RDONLY | os.O_DIRECTORY)


def fsync_file(path: Path) -> None:
    """Make a file's content durable (written by someone who did not fsync it)."""
    _fsync_opened(path, os.O_RDONLY | os.O_NOFOLLOW)


def replace_file(path: Path, data: bytes, *, mode: int = 0o600, prefix: str | None = None) -> None:
    """Write `data` to `path` atomically and durably; raises OSError, leaves no temp file.

    `prefix` names the temp file, for folders that sweep their own leftovers by prefix.
    """
    temp_prefix = prefix if prefix is not None else f".{path.name}."
    fd, temp_name = tempfile.mkstemp(prefix=temp_prefix, suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp_name, path)
        fsync_dir(path.parent)
    finally:
        Path(temp_name).unlink(missing_ok=True)
