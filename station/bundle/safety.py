"""The one place that decides whether a path from the media may be read.

Every name that comes from the media (a manifest line, a bundle.json item, a tar member) goes
through `check_relative_path`; every file that is opened on the media goes through
`open_media_file`, which walks the path one component at a time with `O_NOFOLLOW` so that a
link anywhere on the way is refused rather than followed, and checks the size cap with
`fstat` before a byte is read.
"""

from __future__ import annotations

import os
import stat
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from station.errors import UnsafePathError
from station.text import printable

MAX_PATH_BYTES = 1024
MAX_COMPONENT_BYTES = 255

# Bidirectional marks, embeddings, overrides and isolates (the complete list of Unicode's
# Bidi_Control characters) let a name display differently from what it is.
_BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)

_OPEN_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_OPEN_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NOCTTY | os.O_NONBLOCK


def describe_name(name: str) -> str:
    """A name made printable for messages: control and bidi characters shown as escapes."""
    return printable(name)


def check_relative_path(name: str) -> str:
    """Return the name if it is a safe relative POSIX path, else raise UnsafePathError.

    Refused: empty names, absolute paths, `..` or `.` components, empty components, backslashes,
    NUL, control characters (C0, C1, DEL), bidirectional controls, names longer than the
    filesystem allows, and names that are not valid Unicode once decoded.
    """
    shown = describe_name(name)
    if not name:
        raise UnsafePathError("empty file name")
    if name.startswith("/"):
        raise UnsafePathError(f"absolute path {shown!r} (paths must be relative to the media)")
    if "\\" in name:
        raise UnsafePathError(f"backslash in path {shown!r}")
    for ch in name:
        if ch in _BIDI_CONTROLS:
            raise UnsafePathError(f"bidirectional control character in path {shown!r}")
        if unicodedata.category(ch) in ("Cc", "Cs") or ch == "\x7f":
            raise UnsafePathError(f"control character in path {shown!r}")
    parts = name.split("/")
    for part in parts:
        if part == "..":
            raise UnsafePathError(f"parent directory '..' in path {shown!r}")
        if part in ("", "."):
            raise UnsafePathError(f"empty or '.' component in path {shown!r}")
        if len(part.encode("utf-8", "surrogateescape")) > MAX_COMPONENT_BYTES:
            raise UnsafePathError(f"file name too long in path {shown[:80]!r}...")
    if len(name.encode("utf-8", "surrogateescape")) > MAX_PATH_BYTES:
        raise UnsafePathError(f"path too long: {shown[:80]!r}...")
    return name


@dataclass
class MediaFile:
    """A regular file opened read-only on the media; `size` comes from fstat of that file."""

    fd: int
    size: int
    path: str

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> MediaFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _kind_of(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device file"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def open_media_file(root: Path, name: str, *, max_size: int) -> MediaFile:
    """Open `root/name` for reading without following any link, refusing non-regular files.

    Raises UnsafePathError for a link, device, FIFO, socket or folder anywhere on the way, or a
    file over `max_size`; FileNotFoundError when it is absent (the caller reports "missing").
    """
    check_relative_path(name)
    parts = name.split("/")
    shown = describe_name(name)
    dir_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in parts[:-1]:
            try:
                next_fd = os.open(part, _OPEN_DIR_FLAGS, dir_fd=dir_fd)
            except OSError as exc:
                _raise_for_component(exc, dir_fd, part, shown)
                raise
            os.close(dir_fd)
            dir_fd = next_fd
        try:
            st = os.stat(parts[-1], dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            raise
        if not stat.S_ISREG(st.st_mode):
            raise UnsafePathError(f"{shown} is {_kind_of(st.st_mode)}, not a regular file")
        if st.st_size > max_size:
            raise UnsafePathError(
                f"{shown} is {st.st_size} bytes, over the limit of {max_size} bytes"
            )
        fd = os.open(parts[-1], _OPEN_FILE_FLAGS, dir_fd=dir_fd)
    finally:
        os.close(dir_fd)
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_size > max_size:
        os.close(fd)
        raise UnsafePathError(f"{shown} changed while it was being opened")
    os.set_blocking(fd, True)
    return MediaFile(fd=fd, size=st.st_size, path=name)


def _raise_for_component(exc: OSError, dir_fd: int, part: str, shown: str) -> None:
    """Turn a failed folder open into UnsafePathError when the component is not a folder."""
    try:
        st = os.stat(part, dir_fd=dir_fd, follow_symlinks=False)
    except OSError:
        return
    if not stat.S_ISDIR(st.st_mode):
        kind = _kind_of(st.st_mode)
        raise UnsafePathError(f"{shown}: {describe_name(part)!r} is {kind}") from exc


def read_media_file(root: Path, name: str, *, max_size: int) -> bytes:
    """Read a small file (manifest, signature) whole, with the same checks as open_media_file."""
    with open_media_file(root, name, max_size=max_size) as media_file:
        chunks: list[bytes] = []
        remaining = media_file.size + 1  # one byte more tells us the file grew
        while remaining > 0:
            chunk = os.read(media_file.fd, min(remaining, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        data = b"".join(chunks)
    if len(data) != media_file.size:
        raise UnsafePathError(f"{describe_name(name)} changed size while it was being read")
    return data


@dataclass(frozen=True)
class TreeEntry:
    """A thing found when walking the media: a regular file, or something refused."""

    path: str
    problem: str | None = None


def _open_folder(root_fd: int, relative: str) -> int:
    """Open a folder below the media root one component at a time, never through a link."""
    fd = os.dup(root_fd)
    try:
        for part in relative.split("/") if relative else ():
            next_fd = os.open(part, _OPEN_DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = next_fd
    except BaseException:
        os.close(fd)
        raise
    return fd


def walk_media(root: Path, *, max_entries: int) -> list[TreeEntry]:
    """Every regular file under root (relative paths), plus refused entries with a reason.

    Links are never followed; devices, FIFOs, sockets and links are reported; names that fail
    `check_relative_path` are reported with the reason. Stops with UnsafePathError past
    `max_entries` (counted as entries are read, before any list of them is built), so a media
    with millions of files cannot stall the station. At most two descriptors are open at a
    time, whatever the number of folders.
    """
    found: list[TreeEntry] = []
    seen = 0
    pending: list[str] = [""]
    root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        while pending:
            relative = pending.pop()
            prefix = f"{relative}/" if relative else ""
            dir_fd = _open_folder(root_fd, relative)
            try:
                children: list[tuple[str, int]] = []
                with os.scandir(dir_fd) as it:
                    for entry in it:
                        seen += 1
                        if seen > max_entries:
                            raise UnsafePathError(
                                f"the media holds more than {max_entries} entries"
                            )
                        children.append((entry.name, entry.stat(follow_symlinks=False).st_mode))
            finally:
                os.close(dir_fd)
            for child, mode in sorted(children, key=lambda pair: pair[0]):
                rel = f"{prefix}{child}"
                try:
                    check_relative_path(rel)
                except UnsafePathError as exc:
                    found.append(TreeEntry(rel, exc.message))
                    continue
                if stat.S_ISDIR(mode):
                    pending.append(rel)
                elif stat.S_ISREG(mode):
                    found.append(TreeEntry(rel))
                else:
                    kind = _kind_of(mode)
                    found.append(TreeEntry(rel, f"{describe_name(rel)} is {kind}"))
    finally:
        os.close(root_fd)
    return sorted(found, key=lambda e: e.path)
