"""The member list of an image tarball, read without reading layer data.

For an uncompressed tar, `tarfile` seeks over each member's data, so listing a 10 GiB archive
reads a few kilobytes of headers; small JSON members are read later, on demand. A gzip tar
cannot be seeked cheaply, so it is decompressed once, front to back (every byte is read), and
small JSON-looking members are kept in memory on the way.

Every read goes through `_GuardedFile`, which refuses any single read larger than the index
limit: a hostile PAX or GNU long-name header that claims gigabytes cannot fill memory.
"""

from __future__ import annotations

import gzip
import io
import os
import posixpath
import stat
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from station.bundle.oci_json import fail
from station.bundle.safety import check_relative_path
from station.config import Limits
from station.errors import UnsafePathError

_MAGIC = {
    b"BZh": "bzip2",
    b"\xfd7zXZ\x00": "xz",
    b"\x28\xb5\x2f\xfd": "zstd",
}
# Members worth keeping when a gzip stream goes by: the names images use for JSON.
_JSON_NAMES = frozenset({"index.json", "manifest.json", "repositories", "oci-layout"})


class _TooLarge(Exception):
    pass


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...
    def seek(self, offset: int, whence: int = ..., /) -> int: ...
    def tell(self) -> int: ...


class _GuardedFile(io.RawIOBase):
    """A read-only file object that refuses any single read over `max_read` bytes."""

    def __init__(self, inner: _Readable, max_read: int) -> None:
        super().__init__()
        self._inner = inner
        self._max_read = max_read

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0 or size > self._max_read:
            raise _TooLarge(size)
        return self._inner.read(size)

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._inner.seek(offset, whence)

    def tell(self) -> int:
        return self._inner.tell()


@dataclass(frozen=True)
class Member:
    """One tar entry: kind is 'file', 'dir' or 'link'; `target` is set for links."""

    name: str
    kind: str
    size: int
    target: str | None = None
    offset: int = 0
    sparse: bool = False


def _normalise(label: str, info: tarfile.TarInfo) -> str:
    name = info.name
    while name.startswith("./"):
        name = name[2:]
    name = name.rstrip("/") if info.isdir() else name
    if name in ("", "."):
        return ""
    try:
        return check_relative_path(name)
    except UnsafePathError as exc:
        raise UnsafePathError(f"{label}: member {exc.message}") from None


def _link_target(label: str, info: tarfile.TarInfo, name: str) -> str:
    """The archive-relative name a link points to; it must stay inside the archive."""
    if info.issym():
        joined = posixpath.normpath(posixpath.join(posixpath.dirname(name), info.linkname))
    else:
        joined = posixpath.normpath(info.linkname)
    try:
        return check_relative_path(joined)
    except UnsafePathError as exc:
        raise UnsafePathError(
            f"{label}: link {name} points outside the archive ({exc.message})"
        ) from None


class TarIndex:
    """The members of an image tarball, and the bytes of its small JSON members on request."""

    def __init__(self, path: Path, limits: Limits, label: str) -> None:
        self.label = label
        self.members: dict[str, Member] = {}
        self.compressed = False
        self._limits = limits
        self._budget = limits.max_archive_index_bytes
        self._kept: dict[str, bytes] = {}
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY)
        except OSError as exc:
            raise fail(label, f"cannot open the archive: {exc.strerror}") from None
        self._file = os.fdopen(fd, "rb")
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise fail(label, "is not a regular file")
            os.set_blocking(fd, True)
            self._scan()
        except BaseException:
            self._file.close()
            raise

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> TarIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _scan(self) -> None:
        head = self._file.read(8)
        self._file.seek(0)
        cap = self._limits.max_archive_index_bytes
        if head.startswith(b"\x1f\x8b"):
            self.compressed = True
            source = _GuardedFile(gzip.GzipFile(fileobj=self._file, mode="rb"), cap)
        else:
            for magic, kind in _MAGIC.items():
                if head.startswith(magic):
                    raise fail(
                        self.label,
                        f"is compressed with {kind}, which the station does not read",
                        hint="provide the archive uncompressed (docker save) or gzip-compressed",
                    )
            source = _GuardedFile(self._file, cap)
        try:
            self._walk(source)
        except _TooLarge:
            raise fail(self.label, f"a tar header is larger than {cap} bytes") from None
        except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise fail(self.label, f"is not a readable tar archive: {exc}") from None
        except UnicodeError:
            raise fail(self.label, "a member name is not valid text") from None
        except OSError as exc:
            raise fail(self.label, f"cannot read the archive: {exc}") from None

    def _walk(self, source: _GuardedFile) -> None:
        tar = tarfile.open(fileobj=source, mode="r:")  # noqa: SIM115 - closed with file
        count = 0
        while (info := tar.next()) is not None:
            count += 1
            if count > self._limits.max_files:
                raise fail(self.label, f"holds more than {self._limits.max_files} members")
            name = _normalise(self.label, info)
            if not name:
                continue
            if info.isdir():
                member = Member(name, "dir", 0)
            elif info.isreg():
                member = Member(name, "file", info.size, None, info.offset_data, info.issparse())
                if self.compressed:
                    self._keep_if_json(tar, info, name)
            elif info.issym() or info.islnk():
                member = Member(name, "link", 0, _link_target(self.label, info, name))
            else:
                raise fail(self.label, f"member {name} is a device, FIFO or other special file")
            previous = self.members.get(name)
            if previous is not None and not (previous.kind == member.kind == "dir"):
                raise fail(self.label, f"member {name} appears more than once")
            self.members[name] = member
            tar.members.clear()  # type: ignore[attr-defined]  # offsets are kept in Member; do not hold every TarInfo

    def _keep_if_json(self, tar: tarfile.TarFile, info: tarfile.TarInfo, name: str) -> None:
        """While a gzip stream goes by, keep the members that may be JSON documents."""
        named = name in _JSON_NAMES or name.endswith(".json")
        if not (named or name.startswith("blobs/")):
            return
        data = tar.extractfile(info)
        if data is None:  # cannot happen for a regular member; keep nothing then
            return
        first = data.read(1)
        if not named and first not in (b"{", b" ", b"\t", b"\r", b"\n"):
            return
        if info.size > self._budget:
            cap = self._limits.max_archive_index_bytes
            raise fail(self.label, f"the image index data is larger than the limit of {cap} bytes")
        self._kept[name] = first + data.read(info.size - 1) if info.size else b""
        self._budget -= info.size

    def _regular(self, name: str, what: str) -> Member:
        member = self.members.get(name)
        if member is None:
            raise fail(self.label, f"{what} ({name}) is missing from the archive")
        if member.kind != "file":
            raise fail(self.label, f"{what} ({name}) is a {member.kind}, not a regular file")
        return member

    def has_file(self, name: str) -> bool:
        return name in self.members

    def file_size(self, name: str, what: str) -> int:
        """Size of a regular member; one link that stays inside the archive is followed.

        docker save writes a layer that two images share once and links the second copy to it.
        Blobs are named by their content, so a link under `blobs/` is never followed.
        """
        member = self.members.get(name)
        if member and member.kind == "link" and member.target and not name.startswith("blobs/"):
            target = self.members.get(member.target)
            if target is None or target.kind != "file":
                raise fail(self.label, f"{what} ({name}) links to {member.target}, not a file")
            return target.size
        return self._regular(name, what).size

    def read_small(self, name: str, what: str) -> bytes:
        member = self._regular(name, what)
        cap = self._limits.max_archive_index_bytes
        if member.size > cap:
            raise fail(self.label, f"{what} ({name}) is {member.size} bytes, over {cap}")
        if member.sparse:
            raise fail(self.label, f"{what} ({name}) is a sparse member, not a plain file")
        if self.compressed:
            if name not in self._kept:
                raise fail(self.label, f"{what} ({name}) is not a JSON document")
            return self._kept[name]
        if member.size > self._budget:
            raise fail(self.label, f"the image index data is larger than the limit of {cap} bytes")
        self._budget -= member.size
        try:
            self._file.seek(member.offset)
            data = self._file.read(member.size)
        except OSError as exc:
            raise fail(self.label, f"cannot read {what} ({name}): {exc}") from None
        if len(data) != member.size:
            raise fail(self.label, f"{what} ({name}) is cut short: the archive is truncated")
        return data
