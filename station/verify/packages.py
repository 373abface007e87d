"""A vendor package read once, split into staged blobs and files as it is hashed.

A Zarf package's files live inside its archive (one file or split parts): the parts are read
once, in order, as one stream (each byte hashed for `.part000`'s promise), decompressed,
walked by the strict tar reader, and each member goes where a listed file of a plain bundle
would: `images/…` into the blob store by digest (`BlobSink`, as `split_archive` does), the
components and SBOMs into `files/`, `zarf.yaml`, `checksums.txt` and `zarf.yaml.sig` into
memory. Then every member's digest is compared with `checksums.txt`, `checksums.txt` with
the signed `zarf.yaml`'s aggregateChecksum, and the `zarf.yaml` read now with the bytes
whose signature was checked. The results are `HashResult`s, so the rest of verification
(images re-read from hashed bytes, staging, policy) is the one every bundle goes through.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from station.bundle import zarf
from station.bundle.members import Blob, Members, read_members
from station.bundle.model import Bundle, Entry, Finding, PackageFiles
from station.bundle.safety import MediaFile, describe_name, open_media_file
from station.bundle.strict_tar import Prefixed, StrictTarReader, TarMember
from station.config import Limits
from station.errors import BundleError, MediaError, UnsafePathError
from station.progress import Progress, ProgressCallback
from station.verify.blobstore import FileWriter
from station.verify.hashing import HashResult, Role, StagingArea, Task
from station.verify.streams import CHUNK, BlobSink, MediaStream, StopSignal

PROGRESS_INTERVAL = 0.1


@dataclass
class _Found:
    """One member as read: where its bytes went and what they hash to."""

    size: int
    sha256: str
    blob: Blob | None = None
    kept: bytes | None = None
    staged: bool = False


class _Parts:
    """The package's parts as one pull source; every byte hashed for the split promise.

    The parts' running hash is computed beside the reader, which hashes every member again
    (the blobs' names): once per byte each, on two cores.
    """

    def __init__(self, bundle: Bundle, package: PackageFiles, limits: Limits,
                 stop: StopSignal, on_bytes: Callable[[int], None]) -> None:
        self._root = bundle.root
        self._names = list(package.parts)
        self._limits = limits
        self._stop = stop
        self._on_bytes = on_bytes
        self._media: MediaFile | None = None
        self._stream: MediaStream | None = None
        self.total = hashlib.sha256()
        self.size = 0
        self.problems: list[Finding] = []

    def _next(self) -> bool:
        if not self._names:
            return False
        name = self._names.pop(0)
        try:
            self._media = open_media_file(self._root, name, max_size=self._limits.max_file_bytes)
        except FileNotFoundError:
            raise BundleError(f"{describe_name(name)}, a part of the package, is missing"
                              ) from None
        except (OSError, UnsafePathError) as exc:
            raise BundleError(f"{describe_name(name)}: cannot read this part: {exc}") from None
        self._stream = MediaStream(self._media, on_bytes=self._on_bytes, stop=self._stop,
                                   hash_aside=True, into=self.total)
        return True

    def read(self, size: int, /) -> bytes | memoryview:
        while True:
            if self._stream is None and not self._next():
                return b""
            assert self._stream is not None and self._media is not None  # noqa: S101
            chunk = self._stream.read(size)
            if chunk:
                self.size += len(chunk)
                return chunk
            if self._stream.grew or self._stream.done != self._media.size:
                self.problems.append(Finding("changed", f"{describe_name(self._media.path)} "
                                             "changed size while it was being read",
                                             self._media.path))
            self._end_part()

    def _end_part(self) -> None:
        """This part's bytes are all in `total` (its hashing thread ended) before the next
        part adds its own."""
        assert self._stream is not None and self._media is not None  # noqa: S101
        self._stream.close()
        self._media.close()
        self._media, self._stream = None, None

    def close(self) -> None:
        if self._media is not None:
            self._end_part()


def hash_package(
    bundle: Bundle,
    *,
    limits: Limits,
    area: StagingArea,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> list[HashResult]:
    """Read the package once; one `HashResult` per file `checksums.txt` pins, plus one per
    package-level problem. Raises MediaError when the media vanishes, Cancelled on cancel."""
    package = bundle.package
    assert package is not None  # noqa: S101 - only called for vendor packages
    label = describe_name(package.name)
    stop = StopSignal(cancel)
    started = time.monotonic()
    total = sum(entry.size or 0 for entry in bundle.entries)
    done = 0
    last = 0.0

    def counted(count: int) -> None:
        nonlocal done, last
        done += count
        now = time.monotonic()
        if on_progress is not None and now - last >= PROGRESS_INTERVAL:
            last = now
            on_progress(Progress(done, total, now - started, package.name, 0, 0))

    expected = {entry.path: entry for entry in bundle.entries}
    found: dict[str, _Found] = {}

    def on_file(member: TarMember, reader: StrictTarReader) -> tuple[Blob, bytes | None]:
        return _take(member, reader, area, limits, label, found)

    parts = _Parts(bundle, package, limits, stop, counted)
    problems: list[Finding] = []
    members: Members | None = None
    try:
        head = bytes(parts.read(8))
        stream = zarf.opened(Prefixed(head, parts.read), head, label, limits)
        members = read_members(stream, label=label, limits=limits, on_file=on_file)
        while parts.read(CHUNK):  # bytes after the tar's end count for the split promise
            pass
    except BundleError as exc:
        problems.append(Finding("unreadable-image", f"{label}: {exc.message}", package.name))
    except MediaError:
        raise
    finally:
        parts.close()
        _discard_unlisted(found, expected, area)
    problems += parts.problems
    problems += zarf.split_problems(package, parts.size, parts.total.hexdigest())
    if members is not None:
        problems += _package_checks(bundle, members)
    results = [_result(entry, found.get(path), label) for path, entry in expected.items()]
    results += [HashResult(Entry(p.path or package.name, ""), None, None, p) for p in problems]
    return results


def _take(member: TarMember, reader: StrictTarReader, area: StagingArea, limits: Limits,
          label: str, found: dict[str, _Found]) -> tuple[Blob, bytes | None]:
    """Send one member where it belongs while hashing it."""
    name = member.name
    if name.startswith(zarf.IMAGES):
        inner = name.removeprefix(zarf.IMAGES)
        layer = area.malware.layer_scan(label, inner) if area.malware is not None else None
        sink = BlobSink(area.blobs, inner, member.size, label, limits, layer)
        blob, kept = sink.take(reader.read)
        assert blob.digest is not None  # noqa: S101 - a finished sink has one
        found[name] = _Found(blob.size, blob.digest.removeprefix("sha256:"), blob, kept)
        return blob, kept
    hasher = hashlib.sha256()
    keep = name in zarf.META_FILES
    target = None if keep or area.files is None else area.files / name
    writer = FileWriter(target, area.blobs.space, f"{label}: {name}", area.blobs.flusher)
    session = (area.malware.file_session(f"{label}/{name}", member.size)
               if area.malware is not None and not keep else None)
    parts: list[bytes] = []
    size = 0
    try:
        while chunk := reader.read(CHUNK):
            hasher.update(chunk)
            size += len(chunk)
            if session is not None:
                session.feed(chunk)
            if keep:
                if size > limits.max_manifest_bytes:
                    raise BundleError(f"{label}: {name} is larger than "
                                      f"{limits.max_manifest_bytes} bytes")
                parts.append(bytes(chunk))
            else:
                writer.write(chunk)
    except BaseException:
        writer.discard()
        if session is not None:
            session.abort()
        raise
    writer.close()
    if session is not None:
        session.close()  # clamd scans now; the verdict is collected after the pass
    digest = hasher.hexdigest()
    data = b"".join(parts) if keep else None
    found[name] = _Found(size, digest, kept=data, staged=target is not None)
    return Blob(size, "sha256:" + digest), data


def _discard_unlisted(found: dict[str, _Found], expected: dict[str, Entry],
                      area: StagingArea) -> None:
    """Files the checksums do not pin never stay in staging."""
    if area.files is None:
        return
    for name, item in found.items():
        if item.staged and name not in expected:
            (area.files / name).unlink(missing_ok=True)


def _package_checks(bundle: Bundle, members: Members) -> list[Finding]:
    """zarf.yaml as signed, checksums.txt as pinned, nothing unpinned."""
    problems: list[Finding] = []
    manifest = members.small(zarf.MANIFEST)
    if manifest != bundle.manifest:
        problems.append(Finding("changed", f"{zarf.MANIFEST} read now differs from the one "
                                "whose signature was checked", zarf.MANIFEST))
        return problems
    checksums = members.small(zarf.CHECKSUMS) or b""
    problems += zarf.check_aggregate(checksums, zarf.parse_manifest(manifest))
    pinned = {entry.path for entry in bundle.entries}
    problems += [Finding("unlisted-in-image", f"{describe_name(name)} is in the package but "
                         f"not pinned by {zarf.CHECKSUMS}", name)
                 for name in members.files if name not in pinned and name not in zarf.META_FILES]
    return problems


def _result(entry: Entry, item: _Found | None, label: str) -> HashResult:
    shown = describe_name(entry.path)
    inner = entry.path.removeprefix(zarf.IMAGES)
    role = Role.LAYOUT if entry.path.startswith(zarf.IMAGES) else Role.FILE
    task = Task(entry, role, inner if role is Role.LAYOUT else "")
    if item is None:
        return HashResult(entry, None, None, Finding(
            "missing", f"{label}: {shown} is pinned by {zarf.CHECKSUMS} but not in the "
            "package", entry.path), task)
    problem = None
    if item.sha256 != entry.sha256:
        problem = Finding("checksum-mismatch", f"{label}: {shown} does not match "
                          f"{zarf.CHECKSUMS} (expected {entry.sha256[:16]}…, found "
                          f"{item.sha256[:16]}…)", entry.path)
    kept = item.kept
    if role is Role.LAYOUT and inner == "index.json" and kept is not None:
        kept = zarf.name_images(kept)
    return HashResult(entry, item.size, item.sha256, problem, task, None, None, item.blob, kept)
