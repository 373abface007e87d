"""What an image archive or layout folder holds, member by member, as the image readers see it.

An image item is a set of named members: `manifest.json`, `index.json`, `blobs/sha256/<hex>`,
`<id>/layer.tar`... Whether they come from a tar archive read by the strict reader or from a
layout folder's listed files, the readers in `docker_archive` and `oci_index` see them through
`Members`: sizes, digests (once hashed), and the bytes of the small JSON documents, kept in
memory within a budget. Symbolic links are resolved here, once, and only to a regular member:
docker save links a layer two images share (`<id>/layer.tar -> ../<other>/layer.tar`).
"""

from __future__ import annotations

import os
import posixpath
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass

from station.bundle.compression import Compression, Decompressed, detect
from station.bundle.oci_json import fail
from station.bundle.safety import check_relative_path, describe_name
from station.bundle.strict_tar import ByteSource, Kind, Profile, StrictTarReader, TarMember
from station.config import Limits
from station.errors import BundleError, UnsafePathError

JSON_NAMES = frozenset({"index.json", "manifest.json", "repositories", "oci-layout"})
"""Top-level names that make a tar an image archive to some loader."""
MAX_SMALL_BLOB = 4 * 1024 * 1024
"""Larger members are never JSON documents the station reads (registries cap manifests at
4 MiB)."""
_JSON_START = frozenset(b"{ \t\r\n")
_BARE_DIGEST = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Blob:
    """One regular member. `digest` is None until it was hashed (inspection lists sizes only);
    `content_digest` is the digest of its decompressed content when `compression` is set."""

    size: int
    digest: str | None = None
    content_digest: str | None = None
    compression: Compression | None = None

    @property
    def diff_digest(self) -> str | None:
        """What a config's `diff_ids` must say for this blob used as a layer."""
        return self.content_digest if self.compression is not None else self.digest


def wants_bytes(name: str, size: int, head: bytes | memoryview) -> bool:
    """Whether a member may be a JSON document the readers need (kept in memory)."""
    if size > MAX_SMALL_BLOB:
        return False
    if name == "version":  # a skopeo dir: folder's format line (station.bundle.skopeo_dir)
        return size <= 64
    if name in JSON_NAMES or name.endswith(".json"):
        return True
    if name.startswith("blobs/") or _BARE_DIGEST.fullmatch(name):  # OCI or skopeo dir:
        return size == 0 or (len(head) > 0 and head[0] in _JSON_START)
    return False


class ByteBudget:
    """Bytes of JSON documents that may be held in memory, shared by every item of a bundle."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._left = limit
        self._lock = threading.Lock()

    def take(self, size: int, label: str) -> None:
        with self._lock:
            if size > self._left:
                raise fail(label, "the image index data (manifests, configs, indexes) is "
                           f"larger than the limit of {self.limit} bytes")
            self._left -= size


class Members:
    """The members of one image item; implements the readers' `JsonSource`."""

    def __init__(self, label: str, limits: Limits, budget: ByteBudget | None = None) -> None:
        self.label = label
        self.files: dict[str, Blob] = {}
        self.links: dict[str, str] = {}
        self._small: dict[str, bytes] = {}
        self._budget = budget or ByteBudget(limits.max_archive_index_bytes)

    def add_file(self, name: str, blob: Blob, data: bytes | None = None) -> None:
        self.files[name] = blob
        if data is not None:
            self._budget.take(len(data), self.label)
            self._small[name] = data

    def small(self, name: str) -> bytes | None:
        """The kept bytes of a member, if it was kept."""
        return self._small.get(self.resolve(name))

    def add_link(self, name: str, linkname: str) -> None:
        """Record a symlink member; its target must stay inside the archive."""
        if linkname.startswith("/"):
            raise fail(self.label, f"the link {describe_name(name)} points to an absolute path")
        joined = posixpath.normpath(posixpath.join(posixpath.dirname(name), linkname))
        try:
            self.links[name] = check_relative_path(joined)
        except UnsafePathError as exc:
            raise fail(self.label, f"the link {describe_name(name)} points outside the archive "
                       f"({exc.message})") from None

    def finish(self) -> None:
        """Every link must name a regular member (not another link, not a folder)."""
        for name, target in self.links.items():
            if name.startswith("blobs/"):
                raise fail(self.label, f"{describe_name(name)} is a link; blobs are named by "
                           "their content and must be regular members")
            if target not in self.files:
                raise fail(self.label, f"the link {describe_name(name)} points to "
                           f"{describe_name(target)}, which is not a regular member")

    def resolve(self, name: str) -> str:
        """A link is followed only where docker save writes one: a shared `layer.tar`."""
        target = self.links.get(name)
        if target is None:
            return name
        if not name.endswith("/layer.tar"):
            raise fail(self.label, f"{describe_name(name)} is a symbolic link, not a regular "
                       "member; only docker save's shared layer.tar may be a link")
        return target

    # -- JsonSource ---------------------------------------------------------------------

    def has_file(self, name: str) -> bool:
        return name in self.files or name in self.links

    def blob(self, name: str, what: str) -> Blob:
        found = self.files.get(self.resolve(name))
        if found is None:
            raise fail(self.label, f"{what} ({describe_name(name)}) is missing from the archive")
        return found

    def file_size(self, name: str, what: str) -> int:
        return self.blob(name, what).size

    def read_small(self, name: str, what: str) -> bytes:
        blob = self.blob(name, what)
        data = self._small.get(self.resolve(name))
        if data is None:
            if blob.size > MAX_SMALL_BLOB:
                raise fail(self.label, f"{what} ({describe_name(name)}) is {blob.size} bytes, "
                           f"too large for a JSON document (at most {MAX_SMALL_BLOB})")
            raise fail(self.label, f"{what} ({describe_name(name)}) is not a JSON document")
        return data

    def top_level_markers(self) -> list[str]:
        """The names that make some loader read this as an image archive."""
        return sorted(name for name in JSON_NAMES if self.has_file(name))


FileHandler = Callable[[TarMember, StrictTarReader], tuple[Blob, bytes | None]]


def read_members(
    source: ByteSource,
    *,
    label: str,
    limits: Limits,
    on_file: FileHandler,
    into: Members | None = None,
) -> Members:
    """Walk an image archive with the strict reader; `on_file` reads or skips each file.

    The result is only valid once the walk ended: the strict reader's checks of the whole
    archive (end blocks, names below links) run at the end.
    """
    members = into if into is not None else Members(label, limits)
    reader = StrictTarReader(
        source,
        label=label,
        profile=Profile.IMAGE,
        max_members=limits.max_files,
        max_member_bytes=limits.max_file_bytes,
        max_header_bytes=limits.max_archive_index_bytes,
    )
    for member in reader:
        if member.kind is Kind.FILE:
            blob, data = on_file(member, reader)
            members.add_file(member.name, blob, data)
        elif member.kind is Kind.SYMLINK:
            members.add_link(member.name, member.linkname)
    members.finish()
    return members


def read_small_member(member: TarMember, reader: StrictTarReader) -> tuple[Blob, bytes | None]:
    """Inspection: keep what may be JSON, skip layer data (seeked over when possible)."""
    first = reader.read(1) if member.size else b""
    if not wants_bytes(member.name, member.size, first):
        return Blob(member.size), None
    parts = [bytes(first)]
    while chunk := reader.read(1 << 20):
        parts.append(bytes(chunk))
    return Blob(member.size), b"".join(parts)


class FileSource:
    """A `ByteSource` over a descriptor that can skip by seeking (an uncompressed archive)."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def read(self, size: int, /) -> bytes:
        return os.read(self._fd, size)

    def skip(self, size: int, /) -> int:
        here = os.lseek(self._fd, 0, os.SEEK_CUR)
        end = os.fstat(self._fd).st_size
        moved = min(size, max(0, end - here))
        os.lseek(self._fd, moved, os.SEEK_CUR)
        return moved


def list_archive(fd: int, *, label: str, limits: Limits) -> Members:
    """The members of the image archive open at `fd`, for inspection (data skipped)."""
    head = os.pread(fd, 8, 0)
    kind = detect(head)
    os.lseek(fd, 0, os.SEEK_SET)
    try:
        if kind is None:
            return read_members(FileSource(fd), label=label, limits=limits,
                                on_file=read_small_member)
        return read_members(
            _decompressed(fd, kind, label, limits), label=label, limits=limits,
            on_file=read_small_member,
        )
    except OSError as exc:
        raise BundleError(f"{label}: cannot read the archive: {exc.strerror or exc}") from exc


def _decompressed(fd: int, kind: Compression, label: str, limits: Limits) -> Decompressed:
    return Decompressed(
        lambda size: os.read(fd, size), kind, label=label, max_output=limits.max_bundle_bytes
    )
