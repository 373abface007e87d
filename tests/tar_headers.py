"""Tar archives written header by header, for the headers no honest writer produces.

`tarfile` cannot write a size field starting with NUL, a GNU long name next to a PAX path,
two PAX headers for one member or a prefix without ustar magic; these builders can. A
`Header` is one 512-byte block with every field given as raw bytes (or a number, written
as octal the usual way); its checksum is computed unless the test sets one.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

BLOCK = 512
POSIX_MAGIC = b"ustar\x0000"
GNU_MAGIC = b"ustar  \x00"
STAR_TRAILER = b"tar\x00"


def octal(value: int, width: int) -> bytes:
    """`value` as zero-padded octal ending in NUL, as POSIX writers store numbers."""
    return f"{value:0{width - 1}o}".encode() + b"\x00"


def _field(value: bytes | int, width: int) -> bytes:
    raw = octal(value, width) if isinstance(value, int) else value
    if len(raw) > width:
        raise ValueError(f"{raw!r} does not fit in {width} bytes")
    return raw.ljust(width, b"\x00")


@dataclass(frozen=True)
class Header:
    """One tar header block; bytes fields are written as given, ints as octal."""

    name: bytes = b"file"
    size: bytes | int = 0
    typeflag: bytes = b"0"
    linkname: bytes = b""
    mode: bytes | int = 0o644
    uid: bytes | int = 0
    gid: bytes | int = 0
    mtime: bytes | int = 0
    magic: bytes = POSIX_MAGIC
    uname: bytes = b""
    gname: bytes = b""
    devmajor: bytes | int = 0
    devminor: bytes | int = 0
    prefix: bytes = b""
    pad: bytes = b""  # bytes 500-512: zero in every writer; `tar\0` at 508 means STAR
    checksum: bytes | None = None  # None: the correct one

    def block(self) -> bytes:
        raw = bytearray(
            _field(self.name, 100) + _field(self.mode, 8) + _field(self.uid, 8)
            + _field(self.gid, 8) + _field(self.size, 12) + _field(self.mtime, 12)
            + b" " * 8 + _field(self.typeflag, 1) + _field(self.linkname, 100)
            + _field(self.magic, 8) + _field(self.uname, 32) + _field(self.gname, 32)
            + _field(self.devmajor, 8) + _field(self.devminor, 8) + _field(self.prefix, 155)
            + _field(self.pad, 12)
        )
        assert len(raw) == BLOCK
        if self.checksum is None:
            raw[148:156] = f"{sum(raw):06o}".encode() + b"\x00 "
        else:
            raw[148:156] = _field(self.checksum, 8)
        return bytes(raw)


def padded(data: bytes) -> bytes:
    return data + bytes(-len(data) % BLOCK)


def member(name: str | bytes, data: bytes = b"", **fields: object) -> bytes:
    """A header and its data, padded; `fields` override any header field."""
    raw_name = name.encode() if isinstance(name, str) else name
    header = Header(name=raw_name, size=len(data))
    header = replace(header, **fields)  # type: ignore[arg-type]
    return header.block() + padded(data)


def folder(name: str) -> bytes:
    return Header(name=name.encode() + b"/", typeflag=b"5", mode=0o755).block()


def symlink(name: str, target: str) -> bytes:
    return Header(name=name.encode(), typeflag=b"2", linkname=target.encode()).block()


def pax_record(key: str, value: str | bytes) -> bytes:
    """One `"%d %s=%s\\n"` record with its exact length."""
    body = b" " + key.encode() + b"=" + (value.encode() if isinstance(value, str) else value)
    body += b"\n"
    length = len(body) + 1
    while len(str(length)) + len(body) != length:
        length += 1
    return str(length).encode() + body


def pax_header(records: Iterable[tuple[str, str | bytes]] | bytes, *, typeflag: bytes = b"x",
               name: str = "PaxHeaders/member") -> bytes:
    """An extended header holding `records` (or raw bytes, for malformed ones)."""
    data = records if isinstance(records, bytes) else b"".join(
        pax_record(key, value) for key, value in records
    )
    return member(name, data, typeflag=typeflag)


def gnu_long_name(name: str, *, typeflag: bytes = b"L") -> bytes:
    """GNU tar's `././@LongLink` header carrying a long name (`K`: a long link target)."""
    data = name.encode() + b"\x00"
    return member("././@LongLink", data, typeflag=typeflag, magic=GNU_MAGIC)


def end() -> bytes:
    """The two zero blocks that end an archive."""
    return bytes(2 * BLOCK)


def archive(*parts: bytes) -> bytes:
    """Blocks in order, then the end blocks."""
    return b"".join(parts) + end()


def files(members: Sequence[tuple[str, bytes]]) -> bytes:
    """Plain POSIX members in order (no end blocks), as a strict writer writes them."""
    return b"".join(member(name, data) for name, data in members)


def tarfile_archive(members: Sequence[tuple[str, bytes]], *,
                    fmt: int = tarfile.PAX_FORMAT) -> bytes:
    """What Python's tarfile writes for these regular files."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=fmt) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@dataclass
class DockerArchive:
    """The members of a minimal one-image `docker save` archive, as raw (name, bytes)."""

    config: bytes
    layer: bytes
    tag: str
    config_name: str = ""
    layer_name: str = ""
    extra: list[tuple[str, bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        import hashlib

        self.config_name = self.config_name or hashlib.sha256(self.config).hexdigest() + ".json"
        self.layer_name = self.layer_name or (
            hashlib.sha256(self.layer).hexdigest()[:16] + "/layer.tar"
        )

    @property
    def manifest(self) -> bytes:
        return json.dumps([{"Config": self.config_name, "RepoTags": [self.tag],
                            "Layers": [self.layer_name]}]).encode()

    def members(self, *, with_manifest: bool = True) -> list[tuple[str, bytes]]:
        found = [(self.config_name, self.config), (self.layer_name, self.layer), *self.extra]
        if with_manifest:
            found.append(("manifest.json", self.manifest))
        return found
