"""Where verification writes what it hashes: blobs by digest, files by name, space counted.

One read of the media feeds everything: while a file is hashed, its bytes (or, for an image
archive, each member's bytes) are written here, each blob to a temporary name and renamed to
`blobs/sha256/<hex>` of the digest computed on the way, so a blob under its final name is
always complete and is exactly what was hashed. The staging folder is the station's own
(mode 0700), on the same file system as the store and `received/`, so importing is a rename
or a hard link, never a second copy.

Without a folder (`station verify`), nothing is written: the same code only hashes.
"""

from __future__ import annotations

import errno
import hashlib
import os
import tempfile
import threading
from pathlib import Path

from station.errors import StationError

TEMP_PREFIX = ".partial-"
SPACE_MARGIN = 64 * 1024 * 1024
"""Free space the station keeps for its own records (audit log, indexes) while staging."""


class StagingError(StationError):
    """The station's own staging folder failed (full disk, I/O error): not the media's fault."""


def staging_failed(what: str, exc: OSError) -> StagingError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return StagingError(
            f"no space left in the station's staging folder while writing {what}",
            hint="free space on the station (old transfers are cleaned at start-up), "
            "then verify again",
        )
    return StagingError(f"cannot write {what} into staging: {exc.strerror or exc}")


class SpaceBudget:
    """Bytes staging may still write; refuses before the disk is full, not after."""

    def __init__(self, free: int | None) -> None:
        self._left = None if free is None else max(0, free - SPACE_MARGIN)
        self._lock = threading.Lock()

    def take(self, size: int, what: str) -> None:
        if self._left is None:
            return
        with self._lock:
            if size > self._left:
                raise StagingError(
                    f"staging ran out of space while writing {what}",
                    hint="free space on the station, then verify again",
                )
            self._left -= size


def _write_all(fd: int, data: bytes | memoryview, what: str) -> None:
    view = memoryview(data)
    try:
        while view:
            written = os.write(fd, view)
            view = view[written:]
    except OSError as exc:
        raise staging_failed(what, exc) from exc


class BlobWriter:
    """One blob being written: bytes are hashed and (with a folder) written as they come."""

    def __init__(self, store: BlobStore, what: str) -> None:
        self._store = store
        self._what = what
        self._hash = hashlib.sha256()
        self.size = 0
        self._fd = -1
        self._temp: Path | None = None
        if store.folder is not None:
            try:
                fd, name = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=store.folder)
            except OSError as exc:
                raise staging_failed(what, exc) from exc
            self._fd, self._temp = fd, Path(name)

    def write(self, data: bytes | memoryview) -> None:
        self._hash.update(data)
        self.size += len(data)
        if self._fd >= 0:
            self._store.space.take(len(data), self._what)
            _write_all(self._fd, data, self._what)

    def commit(self) -> str:
        """Close and name the blob by its digest; returns `sha256:<hex>`."""
        digest = "sha256:" + self._hash.hexdigest()
        if self._fd >= 0:
            try:
                os.fsync(self._fd)  # durable before the store's index may name it
            except OSError as exc:
                raise staging_failed(self._what, exc) from exc
            os.close(self._fd)
            self._fd = -1
            assert self._temp is not None  # noqa: S101
            final = self._store.path(digest)
            try:
                os.replace(self._temp, final)
            except OSError as exc:
                raise staging_failed(self._what, exc) from exc
            self._temp = None
        return digest

    def discard(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if self._temp is not None:
            self._temp.unlink(missing_ok=True)
            self._temp = None


class BlobStore:
    """`folder/<hex>` blobs (an OCI layout's `blobs/sha256`), or hashing only (no folder)."""

    def __init__(self, folder: Path | None, space: SpaceBudget | None = None) -> None:
        self.folder = folder
        self.space = space or SpaceBudget(None)

    def path(self, digest: str) -> Path:
        assert self.folder is not None  # noqa: S101 - only asked when writing
        return self.folder / digest.removeprefix("sha256:")

    def writer(self, what: str) -> BlobWriter:
        return BlobWriter(self, what)

    def put(self, data: bytes, what: str) -> str:
        """Store small bytes the station wrote itself (a manifest, an index)."""
        writer = self.writer(what)
        try:
            writer.write(data)
            return writer.commit()
        except BaseException:
            writer.discard()
            raise


class FileWriter:
    """A listed file copied into `files/` as it is hashed (delivered later by rename)."""

    def __init__(self, target: Path | None, space: SpaceBudget, what: str) -> None:
        self._what = what
        self._space = space
        self._fd = -1
        self.target = target
        if target is not None:
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                self._fd = os.open(
                    target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW,
                    0o600,
                )
            except OSError as exc:
                raise staging_failed(what, exc) from exc

    def write(self, data: bytes | memoryview) -> None:
        if self._fd >= 0:
            self._space.take(len(data), self._what)
            _write_all(self._fd, data, self._what)

    def close(self) -> None:
        if self._fd >= 0:
            try:
                os.fsync(self._fd)  # durable before it is delivered by rename
            except OSError as exc:
                raise staging_failed(self._what, exc) from exc
            finally:
                os.close(self._fd)
                self._fd = -1

    def discard(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if self.target is not None:
            self.target.unlink(missing_ok=True)
