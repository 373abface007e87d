"""Hash every listed file, several at once, feeding staging from the same single read.

Each file is read once (`streams.MediaStream`); hashlib releases the GIL on large updates,
so worker threads hash files in parallel. What a file's bytes feed depends on its role in
the bundle:

- `FILE` (a plain file, SBOM or report): copied to `files/<path>` in staging; a tar among
  them is walked on the way, so an image archive cannot cross disguised as a file;
- `ARCHIVE` (an image archive): split by the strict tar reader into blobs by digest;
- `LAYOUT` (a file of an OCI layout folder): one blob by digest.

Without a staging area (`station verify`), nothing is written: only hashed and read.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

from station.bundle.members import Blob, ByteBudget, Members
from station.bundle.model import Entry, Finding
from station.bundle.safety import describe_name, open_media_file
from station.config import Limits
from station.errors import BundleError, Cancelled, MediaError, UnsafePathError
from station.progress import Progress, ProgressCallback
from station.verify.blobstore import BlobStore, FileWriter, SpaceBudget, StagingError
from station.verify.streams import (
    MEDIA_GONE,
    BlobSink,
    ChunkSink,
    MediaStream,
    StopSignal,
    blob_from_stream,
    scan_plain_file,
    split_archive,
)

if TYPE_CHECKING:
    from station.malware.scanning import ScanSession
    from station.verify.malware_tap import MalwareTap

__all__ = ["HashResult", "Role", "StagingError", "Task", "hash_entries"]

PROGRESS_INTERVAL = 0.1


class Role(Enum):
    FILE = "file"
    ARCHIVE = "archive"
    LAYOUT = "layout"


@dataclass(frozen=True)
class Task:
    """One listed file and what its bytes are for; `member` names a layout file inside its
    folder (`blobs/sha256/<hex>`, `index.json`)."""

    entry: Entry
    role: Role
    member: str = ""


@dataclass(frozen=True)
class StagingArea:
    """Where hashing writes: blobs (`oci/blobs/sha256`) and files (`files/`)."""

    blobs: BlobStore
    files: Path | None
    budget: ByteBudget
    malware: MalwareTap | None = None


@dataclass(frozen=True)
class HashResult:
    """What reading one listed file found. `problem` is None when size, digest and content
    were all as expected; `members`, `blob` and `kept` carry what an image item needs."""

    entry: Entry
    size: int | None
    sha256: str | None
    problem: Finding | None
    task: Task | None = None
    staged: Path | None = None
    members: Members | None = None
    blob: Blob | None = None
    kept: bytes | None = None

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

    def add(self, count: int, path: str, force: bool = False) -> None:
        if self.callback is None:
            return
        with self._lock:
            self.done += count
            now = time.monotonic()
            if not force and now - self._last < PROGRESS_INTERVAL:
                return
            self._last = now
            report = Progress(self.done, self.total, now - self.started, path, 0, 0)
        self.callback(report)


def planned_size(root: Path, entry: Entry) -> int:
    """The bytes a listed file will take: as declared, else as found on the media."""
    if entry.size is not None:
        return entry.size
    try:
        return os.stat(root / entry.path, follow_symlinks=False).st_size
    except OSError:
        return 0


def _result(task: Task, problem: Finding, size: int | None = None,
            sha256: str | None = None) -> HashResult:
    return HashResult(task.entry, size, sha256, problem, task)


def _hash_one(
    root: Path,
    task: Task,
    limits: Limits,
    area: StagingArea,
    tracker: _Tracker,
    stop: StopSignal,
) -> HashResult:
    entry = task.entry
    shown = describe_name(entry.path)
    try:
        media_file = open_media_file(root, entry.path, max_size=limits.max_file_bytes)
    except FileNotFoundError:
        return _result(task, Finding("missing", f"{shown} is listed but missing", entry.path))
    except UnsafePathError as exc:
        code = "too-large" if "over the limit" in exc.message else "unsafe-path"
        return _result(task, Finding(code, exc.message, entry.path))
    except OSError as exc:
        if exc.errno in MEDIA_GONE:
            raise MediaError(f"the media stopped answering while opening {shown}") from exc
        return _result(
            task, Finding("unreadable", f"cannot open {shown}: {exc.strerror}", entry.path)
        )
    with media_file:
        if entry.size is not None and media_file.size != entry.size:
            message = f"{shown} is {media_file.size} bytes, the manifest says {entry.size}"
            return _result(task, Finding("size-mismatch", message, entry.path), media_file.size)
        return _read(media_file, task, limits, area, tracker, stop)


def _read(media_file: object, task: Task, limits: Limits, area: StagingArea,
          tracker: _Tracker, stop: StopSignal) -> HashResult:
    from station.bundle.safety import MediaFile

    assert isinstance(media_file, MediaFile)  # noqa: S101
    entry = task.entry
    shown = describe_name(entry.path)

    def counted(count: int) -> None:
        tracker.add(count, entry.path)

    file_writer: FileWriter | None = None
    sink: BlobSink | None = None
    session: ScanSession | None = None
    sinks: list[ChunkSink] = []
    if task.role is Role.FILE:
        target = area.files / entry.path if area.files is not None else None
        file_writer = FileWriter(target, area.blobs.space, shown, area.blobs.flusher)
        sinks.append(file_writer.write)
        if area.malware is not None:
            session = area.malware.file_session(entry.path, media_file.size)
            sinks.append(session.feed)
    elif task.role is Role.LAYOUT:
        layer = area.malware.layer_scan(shown, task.member) if area.malware else None
        # the blob is the whole file: named by the digest the stream computes over the same
        # bytes (`stream` is bound below, before any byte is read), not hashed twice
        sink = BlobSink(area.blobs, task.member, media_file.size, shown, limits, layer,
                        digest_from=lambda: stream.digest)
        sinks.append(sink.feed)
    stream = MediaStream(media_file, on_bytes=counted, stop=stop, sinks=sinks,
                         hash_aside=task.role is Role.ARCHIVE)
    members: Members | None = None
    blob: Blob | None = None
    kept: bytes | None = None
    problem: Finding | None = None
    try:
        try:
            if task.role is Role.FILE:
                markers = scan_plain_file(stream, limits)
                if markers:
                    problem = Finding(
                        "unreadable-image",
                        f"{shown} is an image archive (it holds {', '.join(markers)}) but is "
                        "listed as a plain file; images cross only as images, verified",
                        entry.path,
                    )
            elif task.role is Role.ARCHIVE:
                members = Members(shown, limits, area.budget)
                split_archive(stream, area.blobs, limits, members, area.malware)
            else:
                assert sink is not None  # noqa: S101
                blob, kept = blob_from_stream(stream, sink, task.member, shown)
        except BundleError as exc:
            code = "unreadable-archive" if task.role is Role.FILE else "unreadable-image"
            problem = Finding(code, exc.message, entry.path)
            members = None
    except BaseException:
        if file_writer is not None:
            file_writer.discard()
        if sink is not None:
            sink.discard()
        if session is not None:
            session.abort()
        raise
    finally:
        stream.close()
        if file_writer is not None:
            file_writer.close()
    if session is not None:
        session.close()  # clamd scans now; the verdict is collected after the pass
    tracker.add(0, entry.path, force=True)
    digest = stream.digest
    if problem is None:
        if stream.grew or stream.done != media_file.size:
            problem = Finding("changed", f"{shown} changed size while it was being read",
                              entry.path)
        elif digest != entry.sha256:
            problem = Finding(
                "checksum-mismatch",
                f"{shown} does not match its checksum (expected {entry.sha256[:16]}..., "
                f"found {digest[:16]}...)",
                entry.path,
            )
    staged = file_writer.target if file_writer is not None else None
    if problem is not None and file_writer is not None:
        file_writer.discard()
        staged = None
    return HashResult(entry, stream.done, digest, problem, task, staged, members, blob, kept)


def hash_entries(
    root: Path,
    tasks: Sequence[Task],
    *,
    limits: Limits,
    area: StagingArea | None = None,
    workers: int | None = None,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> list[HashResult]:
    """Hash every task's file (feeding `area`); results in the tasks' order.

    Raises MediaError when the media vanishes mid-read, Cancelled when `cancel` is set and
    StagingError when staging fails; the caller removes the staging area then.
    """
    area = area or StagingArea(BlobStore(None, SpaceBudget(None)), None,
                               ByteBudget(limits.max_archive_index_bytes))
    total = sum(planned_size(root, task.entry) for task in tasks)
    tracker = _Tracker(total, on_progress)
    stop = StopSignal(cancel)
    workers = workers or min(4, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hash") as pool:
        futures = [
            pool.submit(_hash_one, root, task, limits, area, tracker, stop) for task in tasks
        ]
        try:
            return [future.result() for future in futures]
        except BaseException:
            stop.set()
            for future in futures:
                future.cancel()
            wait(futures)
            if cancel is not None and cancel.is_set():
                raise Cancelled("verification stopped") from None
            raise
