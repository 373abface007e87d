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

import hashlib
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from station.verify.blobstore_errors import StagingError, staging_failed
from station.verify.durability import WRITEBACK_EVERY, Flusher, start_writeback

__all__ = ["SPACE_MARGIN", "BlobStore", "BlobWriter", "FileWriter", "SpaceBudget", "StagingError"]

TEMP_PREFIX = ".partial-"
SPACE_MARGIN = 64 * 1024 * 1024
"""Free space the station keeps for its own records (audit log, indexes) while staging."""


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


class _Output:
    """One open staging file: each write is counted against the space left and (with
    `writeback`) its writeback starts as it goes; `hand_over` gives it to the flusher to fsync."""

    def __init__(self, fd: int, space: SpaceBudget, what: str, *,
                 writeback: bool = True) -> None:
        self.fd = fd
        self._space = space
        self._what = what
        self._writeback = writeback
        self._written = 0
        self._started = 0

    def write(self, data: bytes | memoryview) -> None:
        self._space.take(len(data), self._what)
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self.fd, view):]
        except OSError as exc:
            raise staging_failed(self._what, exc) from exc
        self._written += len(data)
        if self._writeback and self._written - self._started >= WRITEBACK_EVERY:
            start_writeback(self.fd, self._started, self._written - self._started)
            self._started = self._written

    def hand_over(self, flusher: Flusher) -> None:
        """Durable before verification ends: fsync and close in the flusher."""
        flusher.submit(self.fd, self._what)

    def close_unsynced(self) -> None:
        os.close(self.fd)


class BlobWriter:
    """One blob being written: bytes are hashed and (with a folder) written as they come;
    writeback starts as they are written, the final fsync runs in the store's flusher.

    `digest_from` is for a blob that is a whole media file, whose read hashes exactly these
    bytes already: the blob is named by that digest instead of hashing everything twice.
    """

    def __init__(self, store: BlobStore, what: str,
                 digest_from: Callable[[], str] | None = None) -> None:
        self._store = store
        self._what = what
        self._digest_from = digest_from
        self._hash = hashlib.sha256()
        self.size = 0
        self._out: _Output | None = None
        self._temp: Path | None = None
        if store.folder is not None:
            try:
                fd, name = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=store.folder)
            except OSError as exc:
                raise staging_failed(what, exc) from exc
            self._out = _Output(fd, store.space, what, writeback=store.durable)
            self._temp = Path(name)

    def write(self, data: bytes | memoryview) -> None:
        if self._digest_from is None:
            self._hash.update(data)
        self.size += len(data)
        if self._out is not None:
            self._out.write(data)

    def commit(self) -> str:
        """Name the blob by its digest (its fsync follows in the flusher: durable before
        verification ends); returns `sha256:<hex>`."""
        if self._digest_from is not None:
            digest = "sha256:" + self._digest_from()
        else:
            digest = "sha256:" + self._hash.hexdigest()
        if self._out is not None:
            out, self._out = self._out, None
            if self._store.durable:
                out.hand_over(self._store.flusher)
            else:
                out.close_unsynced()
            assert self._temp is not None  # noqa: S101
            final = self._store.path(digest)
            try:
                os.replace(self._temp, final)
            except OSError as exc:
                raise staging_failed(self._what, exc) from exc
            self._temp = None
        return digest

    def discard(self) -> None:
        if self._out is not None:
            self._out.close_unsynced()
            self._out = None
        if self._temp is not None:
            self._temp.unlink(missing_ok=True)
            self._temp = None


class BlobStore:
    """`folder/<hex>` blobs (an OCI layout's `blobs/sha256`), or hashing only (no folder).

    Not `durable`: the blobs are for a target that only streams them (engine, registry), so
    neither writeback nor fsync is asked for: on a two-core machine with one disk, writing
    gigabytes to disk that are read once from the page cache and then deleted slows the
    load that follows. An import that names such blobs in place makes them durable first.
    """

    def __init__(self, folder: Path | None, space: SpaceBudget | None = None,
                 flusher: Flusher | None = None, *, durable: bool = True) -> None:
        self.folder = folder
        self.durable = durable
        self.space = space or SpaceBudget(None)
        self.flusher = flusher or Flusher()

    def path(self, digest: str) -> Path:
        assert self.folder is not None  # noqa: S101 - only asked when writing
        return self.folder / digest.removeprefix("sha256:")

    def writer(self, what: str, digest_from: Callable[[], str] | None = None) -> BlobWriter:
        return BlobWriter(self, what, digest_from)

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

    def __init__(self, target: Path | None, space: SpaceBudget, what: str,
                 flusher: Flusher) -> None:
        self._flusher = flusher
        self._out: _Output | None = None
        self.target = target
        if target is not None:
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(
                    target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW,
                    0o600,
                )
            except OSError as exc:
                raise staging_failed(what, exc) from exc
            self._out = _Output(fd, space, what)

    def write(self, data: bytes | memoryview) -> None:
        if self._out is not None:
            self._out.write(data)

    def close(self) -> None:
        """Done writing; durable before it is delivered (fsync in the flusher)."""
        if self._out is not None:
            out, self._out = self._out, None
            out.hand_over(self._flusher)

    def discard(self) -> None:
        if self._out is not None:
            self._out.close_unsynced()
            self._out = None
        if self.target is not None:
            self.target.unlink(missing_ok=True)
