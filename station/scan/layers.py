"""Walk an image's layers in order and keep only the package-database files, whiteouts applied.

`iter_layer_members(stream)` is the one place that parses a layer tar: the station's strict
tar reader in its "layer" profile (any file type a layer holds, but no header two readers
could read differently). Everything else here sees `LayerMember`s only.

`read_image_files(...)` streams each layer blob once (tar, tar+gzip or tar+zstd, by media
type, decompressed by `station.bundle.compression`), hashing the compressed bytes to check
the layer digest, and applies the OCI rules:
a `.wh.NAME` entry removes NAME (file or folder) of the layers below; `.wh..wh..opq` in a
folder hides everything the layers below put in that folder; a file, link or other
non-folder entry hides whatever the layers below had under that path. Only files that
`read_cap` names are read into memory, each within its cap and all within a total budget;
everything else is skipped as it streams past. Nothing from the image is ever run.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

from station.bundle.compression import Compression, Decompressed
from station.bundle.model import Layer
from station.bundle.safety import open_media_file
from station.bundle.strict_tar import ByteSource, Kind, Profile, StrictTarReader
from station.errors import BundleError
from station.progress import Progress, ProgressCallback, check_cancel
from station.scan.errors import ScanError
from station.scan.model import Problem

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
MAX_EXTENDED_HEADER = 1024 * 1024
MAX_KEPT_BYTES = 128 * 1024 * 1024
MAX_LINK_HOPS = 8
_BUFFER = 1024 * 1024


class LayerError(ScanError):
    """A layer cannot be read as a tar archive."""


class MemberKind(StrEnum):
    FILE = "file"
    FOLDER = "folder"
    SYMLINK = "symlink"
    HARDLINK = "hardlink"
    OTHER = "other"  # devices, FIFOs


@dataclass
class LayerMember:
    """One entry of a layer tar. `read(limit)` works only until the next member is asked for."""

    path: str
    kind: MemberKind
    size: int
    link: str = ""
    _read: Callable[[int], bytes] = field(default=lambda limit: b"", repr=False)

    def read(self, limit: int) -> bytes:
        """The content of a regular file, at most `limit` bytes."""
        return self._read(limit) if self.kind is MemberKind.FILE else b""


_KINDS = {
    Kind.FILE: MemberKind.FILE,
    Kind.DIR: MemberKind.FOLDER,
    Kind.SYMLINK: MemberKind.SYMLINK,
    Kind.HARDLINK: MemberKind.HARDLINK,
}
MAX_LAYER_MEMBERS = 10_000_000
MAX_LAYER_BYTES = 1 << 62


def normalise(name: str) -> str | None:
    """A member name as a path relative to the image root; None if it climbs out."""
    path = posixpath.normpath("/" + name).lstrip("/")
    if ".." in name.split("/"):
        return None
    return "" if path == "." else path


def iter_layer_members(stream: ByteSource) -> Iterator[LayerMember]:
    """Every member of one uncompressed layer tar, in order; LayerError when it is not one."""
    reader = StrictTarReader(stream, label="the layer", profile=Profile.LAYER,
                             max_members=MAX_LAYER_MEMBERS, max_member_bytes=MAX_LAYER_BYTES,
                             max_header_bytes=MAX_EXTENDED_HEADER)

    def read(limit: int) -> bytes:
        parts: list[bytes] = []
        while limit > 0 and (chunk := reader.read(min(limit, _BUFFER))):
            parts.append(bytes(chunk))
            limit -= len(chunk)
        return b"".join(parts)

    try:
        for member in reader:
            kind = _KINDS.get(member.kind, MemberKind.OTHER)
            yield LayerMember(member.name, kind, member.size, member.linkname, read)
    except BundleError as exc:
        raise LayerError(f"the layer is not a readable tar archive: {exc.message}") from None


class _Counting:
    """A blob read through: counts and hashes the (compressed) bytes as they pass."""

    def __init__(self, raw: IO[bytes], on_bytes: Callable[[int], None],
                 cancel: threading.Event | None) -> None:
        self.raw = raw
        self.hash = hashlib.sha256()
        self.on_bytes = on_bytes
        self.cancel = cancel

    def read(self, size: int = -1) -> bytes:
        check_cancel(self.cancel, "scan stopped")
        data: bytes = self.raw.read(size if size is not None and size >= 0 else _BUFFER)
        self.hash.update(data)
        self.on_bytes(len(data))
        return data

    def readable(self) -> bool:
        return True

    def drain(self) -> None:
        while self.read(_BUFFER):
            pass


def _decompressed(blob: _Counting, media_type: str) -> ByteSource:
    if media_type.endswith(("+gzip", ".gzip")):
        kind = Compression.GZIP
    elif media_type.endswith("+zstd"):
        kind = Compression.ZSTD
    else:
        return blob
    return Decompressed(blob.read, kind, label="the layer", max_output=MAX_LAYER_BYTES)


@dataclass
class _Kept:
    data: bytes | None = None  # regular file content
    link: str | None = None  # symlink target (absolute within the image)
    problem: str | None = None  # why it was not read


@dataclass
class ImageFiles:
    """The kept files of the final filesystem (links resolved) and what could not be kept."""

    files: dict[str, bytes]
    problems: list[Problem]


def _ancestors(path: str) -> Iterator[str]:
    while "/" in path:
        path = path.rsplit("/", 1)[0]
        yield path


class _Filesystem:
    """The kept files of the layers applied so far."""

    def __init__(self, read_cap: Callable[[str], int | None]) -> None:
        self.read_cap = read_cap
        self.kept: dict[str, _Kept] = {}
        self.budget = MAX_KEPT_BYTES

    def apply(self, members: Iterator[LayerMember], where: str) -> list[Problem]:
        problems: list[Problem] = []
        # Only paths that can hide a kept file matter: the kept paths and their folders.
        hiding = set(self.kept)
        for path in self.kept:
            hiding.update(_ancestors(path))
        removed: set[str] = set()  # whiteouts: the path and everything under it
        opaque: set[str] = set()  # everything under it
        covered: set[str] = set()  # a non-folder now here: everything under it
        added: dict[str, _Kept] = {}
        for member in members:
            normalised = normalise(member.path)
            if normalised is None:
                problems.append(Problem(member.path[:200], f"{where}: a name leaving the image"))
                continue
            path = normalised
            if not path:
                continue
            folder, _, base = path.rpartition("/")
            if base == OPAQUE:
                if folder in hiding or not folder:
                    opaque.add(folder)
                continue
            if base.startswith(WHITEOUT):
                hidden = posixpath.join(folder, base[len(WHITEOUT):])
                if hidden in hiding:
                    removed.add(hidden)
                continue
            if member.kind is MemberKind.FOLDER:
                if path in self.kept:  # a folder where a kept file was
                    removed.add(path)
                continue
            if path in hiding:
                covered.add(path)
            cap = self.read_cap(path)
            if cap is not None:
                added[path] = self._keep(member, path, cap, added)
        self._hide(removed, opaque, covered)
        self.kept.update(added)
        return problems

    def _keep(self, member: LayerMember, path: str, cap: int, added: dict[str, _Kept]) -> _Kept:
        if member.kind is MemberKind.SYMLINK:
            folder = path.rpartition("/")[0]
            target = posixpath.normpath(posixpath.join("/" + folder, member.link)).lstrip("/")
            return _Kept(link=target)
        if member.kind is MemberKind.HARDLINK:
            source = normalise(member.link) or ""
            earlier = added.get(source) or self.kept.get(source)
            if earlier is not None and earlier.data is not None:
                return _Kept(data=earlier.data)
            return _Kept(problem="a hard link to a file the scanner did not keep")
        if member.kind is not MemberKind.FILE:
            return _Kept(problem=f"a {member.kind.value}, not a regular file")
        if member.size > cap:
            return _Kept(problem=f"{member.size} bytes, over the {cap} the scanner reads")
        if member.size > self.budget:
            return _Kept(problem="over the scanner's memory budget for package databases")
        data = member.read(cap + 1)
        if len(data) != member.size:
            return _Kept(problem="shorter than its tar header says")
        self.budget -= len(data)
        return _Kept(data=data)

    def _hide(self, removed: set[str], opaque: set[str], covered: set[str]) -> None:
        if not (removed or opaque or covered):
            return
        hidden_below = removed | covered | opaque
        for path in list(self.kept):
            if "" in opaque or path in removed or any(
                folder in hidden_below for folder in _ancestors(path)
            ):
                del self.kept[path]

    def result(self) -> ImageFiles:
        files: dict[str, bytes] = {}
        problems: list[Problem] = []
        for path, kept in sorted(self.kept.items()):
            target, hops = kept, 0
            while target.link is not None and hops < MAX_LINK_HOPS:
                hops += 1
                target = self.kept.get(target.link) or _Kept(
                    problem=f"a link to {target.link}, which the scanner did not keep"
                )
            if target.data is not None:
                files[path] = target.data
            elif target.link is not None:
                problems.append(Problem(path, "a chain of links too long to follow"))
            elif target.problem is not None:
                problems.append(Problem(path, f"not read: {target.problem}"))
        return ImageFiles(files, problems)


def read_image_files(
    layout: Path,
    layers: tuple[Layer, ...],
    read_cap: Callable[[str], int | None],
    *,
    on_bytes: Callable[[int], None],
    cancel: threading.Event | None = None,
) -> ImageFiles:
    """The kept files of an image whose layer blobs are in the OCI layout `layout`."""
    filesystem = _Filesystem(read_cap)
    problems: list[Problem] = []
    for number, layer in enumerate(layers, 1):
        name = "blobs/sha256/" + layer.digest.removeprefix("sha256:")
        where = f"layer {number} ({layer.digest[:19]}…)"
        try:
            with (
                open_media_file(layout, name, max_size=layer.size) as media,
                os.fdopen(media.fd, "rb", buffering=0, closefd=False) as handle,
            ):
                blob = _Counting(handle, on_bytes, cancel)
                problems += filesystem.apply(
                    iter_layer_members(_decompressed(blob, layer.media_type)), where
                )
                blob.drain()
        except FileNotFoundError:
            raise ScanError(f"{layout}: {where} is missing from the layout") from None
        except LayerError as exc:
            raise ScanError(f"{layout}: {where}: {exc.message}") from None
        except OSError as exc:
            raise ScanError(f"{layout}: {where} cannot be read: {exc}") from None
        except BundleError as exc:  # a damaged stream; open_media_file: a link, over its size
            raise ScanError(f"{layout}: {where}: {exc.message}") from None
        if "sha256:" + blob.hash.hexdigest() != layer.digest:
            raise ScanError(
                f"{layout}: {where} does not match its digest (the blob was altered)",
                hint="the copy changed after verification; verify the bundle again",
            )
    result = filesystem.result()
    result.problems[:0] = problems
    return result


def progress_meter(
    total: int, on_progress: ProgressCallback | None
) -> Callable[[int], None]:
    """A byte counter that reports at most ten times a second."""
    started = time.monotonic()
    state: dict[str, Any] = {"done": 0, "last": 0.0}

    def count(n: int) -> None:
        state["done"] += n
        now = time.monotonic()
        if on_progress is not None and (now - state["last"] >= 0.1 or state["done"] >= total):
            state["last"] = now
            on_progress(Progress(state["done"], total, now - started))

    return count
