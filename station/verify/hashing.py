"""Streaming SHA-256 of the listed files, several at once, optionally copying into staging.

Each file is read once, in fixed 256 KiB chunks into one reused buffer per worker (constant
memory; a buffer that fits the CPU cache keeps hashlib close to OpenSSL's speed; see
benchmarks/hash_speed.py). hashlib releases the GIL on large updates, so worker threads hash
files in parallel. When a staging folder is given, every chunk that is hashed is also written
there: the bytes imported later are exactly the bytes hashed, and the media is never read
again. mmap is not used on purpose: a stick pulled out under a mapping kills the process with
SIGBUS, while `read` fails with an error the station can report.
"""

from __future__ import annotations

import errno
import hashlib
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from station.bundle.model import Entry, Finding
from station.bundle.safety import MediaFile, describe_name, open_media_file
from station.errors import Cancelled, MediaError, StationError, UnsafePathError
from station.progress import Progress, ProgressCallback

CHUNK_BYTES = 256 * 1024
PROGRESS_INTERVAL = 0.1
_MEDIA_GONE = {errno.EIO, errno.ENODEV, errno.ENXIO, errno.ENOENT, errno.ESTALE, errno.ENOTCONN}


class StagingError(StationError):
    """The station's own staging folder failed (full disk, I/O error): not the media's fault."""


@dataclass(frozen=True)
class HashResult:
    """What reading one listed file found. `problem` is None when size and digest matched."""

    entry: Entry
    size: int | None
    sha256: str | None
    problem: Finding | None
    staged: Path | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


class _Tracker:
    """Adds up bytes from all workers and calls back at most every PROGRESS_INTERVAL."""

    def __init__(self, total: int, callback: ProgressCallback | None) -> None:
        self.total = total
        self.callback = callback
        self.done = 0
        self.started = time.monotonic()
        self._last = 0.0
        self._lock = threading.Lock()

    def add(
        self, count: int, path: str, path_done: int, path_total: int, force: bool = False
    ) -> None:
        if self.callback is None:
            return
        with self._lock:
            self.done += count
            now = time.monotonic()
            if not force and now - self._last < PROGRESS_INTERVAL:
                return
            self._last = now
            report = Progress(
                self.done, self.total, now - self.started, path, path_done, path_total
            )
        self.callback(report)


def _planned_size(root: Path, entry: Entry) -> int:
    if entry.size is not None:
        return entry.size
    try:
        return os.stat(root / entry.path, follow_symlinks=False).st_size
    except OSError:
        return 0


def _open_staging(staging: Path, entry: Entry) -> tuple[int, Path]:
    target = staging / entry.path
    target.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    return fd, target


def _hash_one(
    root: Path,
    entry: Entry,
    max_size: int,
    staging: Path | None,
    tracker: _Tracker,
    stop: _StopSignal,
) -> HashResult:
    shown = describe_name(entry.path)
    try:
        media_file = open_media_file(root, entry.path, max_size=max_size)
    except FileNotFoundError:
        return HashResult(
            entry, None, None, Finding("missing", f"{shown} is listed but missing", entry.path)
        )
    except UnsafePathError as exc:
        code = "too-large" if "over the limit" in exc.message else "unsafe-path"
        return HashResult(entry, None, None, Finding(code, exc.message, entry.path))
    except OSError as exc:
        if exc.errno in _MEDIA_GONE:
            raise MediaError(f"the media stopped answering while opening {shown}") from exc
        return HashResult(
            entry,
            None,
            None,
            Finding("unreadable", f"cannot open {shown}: {exc.strerror}", entry.path),
        )
    with media_file:
        if entry.size is not None and media_file.size != entry.size:
            message = f"{shown} is {media_file.size} bytes, the manifest says {entry.size}"
            return HashResult(
                entry, media_file.size, None, Finding("size-mismatch", message, entry.path)
            )
        return _stream(media_file, entry, staging, tracker, stop)


def _stream(
    media_file: MediaFile,
    entry: Entry,
    staging: Path | None,
    tracker: _Tracker,
    stop: _StopSignal,
) -> HashResult:
    shown = describe_name(entry.path)
    digest = hashlib.sha256()
    buffer = bytearray(CHUNK_BYTES)
    view = memoryview(buffer)
    out_fd, staged = _open_staging(staging, entry) if staging is not None else (-1, None)
    done = 0
    try:
        with view:
            while True:
                if stop.is_set():
                    raise Cancelled("verification stopped")
                try:
                    count = os.readv(media_file.fd, [buffer])
                except OSError as exc:
                    if exc.errno in _MEDIA_GONE:
                        raise MediaError(
                            f"the media stopped answering while reading {shown}"
                        ) from exc
                    raise MediaError(f"cannot read {shown}: {exc.strerror}") from exc
                if count == 0:
                    break
                chunk = view[:count]
                digest.update(chunk)
                if out_fd >= 0:
                    _write_staging(out_fd, chunk, shown)
                done += count
                if done > media_file.size:
                    break
                tracker.add(count, entry.path, done, media_file.size)
    except BaseException:
        if staged is not None:
            staged.unlink(missing_ok=True)
        raise
    finally:
        if out_fd >= 0:
            os.close(out_fd)
    tracker.add(0, entry.path, done, media_file.size, force=True)
    if done != media_file.size:
        problem = Finding("changed", f"{shown} changed size while it was being read", entry.path)
    elif digest.hexdigest() != entry.sha256:
        problem = Finding(
            "checksum-mismatch",
            f"{shown} does not match its checksum (expected {entry.sha256[:16]}..., "
            f"found {digest.hexdigest()[:16]}...)",
            entry.path,
        )
    else:
        problem = None
    if problem is not None and staged is not None:
        staged.unlink(missing_ok=True)
        staged = None
    return HashResult(entry, done, digest.hexdigest(), problem, staged)


def _write_staging(fd: int, data: memoryview, shown: str) -> None:
    try:
        while data:
            written = os.write(fd, data)
            data = data[written:]
    except OSError as exc:
        raise StagingError(
            f"cannot copy {shown} into staging: {exc.strerror}",
            hint="free space in the station's staging folder, then verify again",
        ) from exc


def hash_entries(
    root: Path,
    entries: Sequence[Entry],
    *,
    max_file_bytes: int,
    staging: Path | None = None,
    workers: int | None = None,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> list[HashResult]:
    """Hash every entry (copying into `staging` if given); results in the entries' order.

    Raises MediaError when the media vanishes mid-read and Cancelled when `cancel` is set;
    in both cases every file staged by this call is removed, so nothing partial stays.
    """
    total = sum(_planned_size(root, entry) for entry in entries)
    tracker = _Tracker(total, on_progress)
    stop = _StopSignal(cancel)
    workers = workers or min(4, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hash") as pool:
        futures = [
            pool.submit(_hash_one, root, entry, max_file_bytes, staging, tracker, stop)
            for entry in entries
        ]
        try:
            return [future.result() for future in futures]
        except BaseException:
            stop.set()
            for future in futures:
                future.cancel()
            wait(futures)
            for future in futures:
                if future.cancelled() or future.exception() is not None:
                    continue
                staged = future.result().staged
                if staged is not None:
                    staged.unlink(missing_ok=True)
            if cancel is not None and cancel.is_set():
                raise Cancelled("verification stopped") from None
            raise


class _StopSignal:
    """Set by the operator's cancel event or by a failure in any worker."""

    def __init__(self, cancel: threading.Event | None) -> None:
        self._cancel = cancel
        self._failed = threading.Event()

    def set(self) -> None:
        self._failed.set()

    def is_set(self) -> bool:
        return self._failed.is_set() or (self._cancel is not None and self._cancel.is_set())
