"""The one tar reader: it accepts only what a strict writer produces, so every reader agrees.

Go's `archive/tar` (docker, skopeo, containerd) and Python's `tarfile` read some headers
differently: a numeric field starting with NUL, a PAX path next to a GNU long name, repeated
extended headers, a prefix field without ustar magic, a malformed PAX record (Python stops
there silently), a bad checksum after the first header (Python ends the archive there, Go
fails), a ustar header ending in star's `tar\\0` trailer (Go then reads a shorter prefix),
PAX numbers beyond 64 bits (Go fails, tarfile reads 0), data after the end blocks. A crafted
archive can then hold one image for one reader and another for the next. This reader
refuses every such header instead of choosing a meaning, and checks what it cannot leave to
chance: the checksum of every header, exact octal numbers, exact PAX records, at most one
extended header per member, two end blocks and only zeros after them.

Profiles say which members are acceptable:
- `IMAGE` (image archives, whose members the station turns into blobs): POSIX ustar or PAX
  only; regular files, folders and symlinks (docker save links a layer that two images share);
  no duplicate names, none that differ only in case or Unicode normalisation, no member below
  a symlink; no global headers, GNU long names, sparse files, hard links or devices.
- `LAYER` (the file system inside an image layer, read by scanners): any file type a layer
  may hold, GNU long names, repeated names (a later one replaces an earlier one, as
  extraction does); still refused: sparse files, global headers with more than a comment,
  a GNU long name together with a PAX path, and every malformed header.

The reader pulls from a `ByteSource`: with `skip`, member data that nobody reads is seeked
over (listing a 10 GiB archive reads its headers only).
"""

from __future__ import annotations

import posixpath
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from station.bundle.safety import check_relative_path, describe_name
from station.errors import BundleError, UnsafePathError

BLOCK = 512
MAX_EXTENDED_HEADER = 1 << 20
MAX_TRAILING_ZEROS = 1 << 20
_POSIX_MAGIC = b"ustar\x0000"
_GNU_MAGIC = b"ustar  \x00"
_STAR_TRAILER = b"tar\x00"  # at byte 508: Go then reads a 131-byte prefix, Python 155
_OCTAL = re.compile(rb" *([0-7]*)[ \x00]*")
# Go parses PAX numbers as int64 and refuses the archive beyond; Python converts any length
# (and tarfile reads a size it cannot convert as 0). 18 digits always fit.
_DECIMAL = re.compile(r"[0-9]{1,18}")
_PAX_TIME = re.compile(r"-?[0-9]{1,18}(?:\.[0-9]{1,19})?")
_PAX_LENGTH = re.compile(rb"[1-9][0-9]{0,8}")
_PAX_NUMBERS = frozenset({"size", "uid", "gid"})
_PAX_TIMES = frozenset({"mtime", "atime", "ctime"})
_PAX_NAMES = frozenset({"path", "linkpath", "uname", "gname"})
_PAX_PREFIXES = ("SCHILY.xattr.", "LIBARCHIVE.xattr.", "SCHILY.acl.", "SCHILY.fflags")


class TarError(BundleError):
    """The archive is not one the station reads; the message names it and the offset."""


class UnsafeMember(TarError, UnsafePathError):
    """A member name that would leave the archive (absolute, `..`, control characters)."""


class Profile(Enum):
    IMAGE = "image"
    LAYER = "layer"


class Kind(Enum):
    FILE = "file"
    DIR = "dir"
    SYMLINK = "symlink"
    HARDLINK = "hardlink"
    DEVICE = "device"
    FIFO = "fifo"


_TYPES = {
    b"0": Kind.FILE,
    b"\x00": Kind.FILE,
    b"1": Kind.HARDLINK,
    b"2": Kind.SYMLINK,
    b"3": Kind.DEVICE,
    b"4": Kind.DEVICE,
    b"5": Kind.DIR,
    b"6": Kind.FIFO,
}


class ByteSource(Protocol):
    """Where tar bytes come from: `read(n)` gives at most n bytes, empty only at the end."""

    def read(self, size: int, /) -> bytes | memoryview: ...


class Prefixed:
    """A source that gives back bytes already read (to tell what the stream is) first."""

    def __init__(self, head: bytes, read_rest: Callable[[int], bytes | memoryview]) -> None:
        self._head = head
        self._read_rest = read_rest

    def read(self, size: int, /) -> bytes | memoryview:
        if self._head:
            chunk, self._head = self._head[:size], self._head[size:]
            return chunk
        return self._read_rest(size)


class Skipping(Protocol):
    def skip(self, size: int, /) -> int:
        """Move forward `size` bytes without reading them; returns how many were skipped."""
        ...


@dataclass(frozen=True)
class TarMember:
    """One member: `name` is normalised (no `./`, no trailing slash); `offset` is where its
    data starts in the (decompressed) stream."""

    name: str
    kind: Kind
    size: int
    linkname: str
    mode: int
    offset: int


def _octal(label: str, field: bytes, what: str, at: int) -> int:
    if field[:1] and field[0] & 0x80:
        raise TarError(f"{label}: the {what} of the header at byte {at} is in base-256, "
                       "which readers do not all accept")
    match = _OCTAL.fullmatch(field)
    if match is None:
        raise TarError(f"{label}: the {what} of the header at byte {at} is not an octal number "
                       f"({describe_name(field.decode('latin-1'))!r})")
    return int(match.group(1) or b"0", 8)


def _text(label: str, raw: bytes, what: str, at: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise TarError(f"{label}: the {what} at byte {at} is not UTF-8 text") from None


def _c_string(raw: bytes) -> bytes:
    return raw.split(b"\x00", 1)[0]


def _checksum_ok(block: bytes, stored: int) -> bool:
    unsigned = sum(block[:148]) + 256 + sum(block[156:])
    signed = sum(b - 256 if b > 127 else b for b in block[:148] + block[156:]) + 256
    return stored in (unsigned, signed)


def _looks_like_header(block: bytes) -> bool:
    match = _OCTAL.fullmatch(block[148:156])
    return match is not None and bool(match.group(1)) and _checksum_ok(
        block, int(match.group(1), 8)
    )


def parse_pax(label: str, data: bytes, at: int) -> dict[str, str]:
    """The records of one PAX extended header, parsed exactly; anything else is refused."""
    records: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        space = data.find(b" ", pos, pos + 12)
        length_text = data[pos:space] if space > 0 else b""
        if space < 0 or not _PAX_LENGTH.fullmatch(length_text):
            raise TarError(f"{label}: a malformed PAX record at byte {at + pos}")
        length = int(length_text)
        record = data[pos:pos + length]
        if len(record) != length or not record.endswith(b"\n") or length <= space - pos + 2:
            raise TarError(f"{label}: a PAX record at byte {at + pos} has a wrong length")
        body = record[space - pos + 1:-1]
        key_raw, equals, value_raw = body.partition(b"=")
        if not equals or not key_raw or b"\x00" in key_raw:
            raise TarError(f"{label}: a PAX record at byte {at + pos} has no key")
        key = _text(label, key_raw, "PAX key", at + pos)
        value = _text(label, value_raw, "PAX value", at + pos)
        if key in records:
            raise TarError(f"{label}: the PAX header at byte {at} sets {key!r} twice")
        records[key] = value
        pos += length
    for key, value in records.items():
        _check_pax_record(label, key, value, at)
    return records


def _check_pax_record(label: str, key: str, value: str, at: int) -> None:
    shown = f"{label}: the PAX record {key!r} at byte {at}"
    if key in _PAX_NUMBERS:
        if not _DECIMAL.fullmatch(value):
            raise TarError(f"{shown} is not a whole number of at most 18 digits: "
                           f"{describe_name(value[:40])!r}")
    elif key in _PAX_TIMES:
        if not _PAX_TIME.fullmatch(value):
            raise TarError(f"{shown} is not a time that fits 64 bits: "
                           f"{describe_name(value[:40])!r}")
    elif key in _PAX_NAMES:
        if not value or "\x00" in value:
            raise TarError(f"{shown} is empty or holds NUL")
    elif key == "comment" or key.startswith(_PAX_PREFIXES):
        return
    else:
        raise TarError(f"{shown} is not one the station reads (GNU sparse files, character "
                       "sets and vendor records are refused)")


@dataclass
class _Pending:
    """Extended headers seen for the member that follows them."""

    pax: dict[str, str] | None = None
    long_name: str | None = None
    long_link: str | None = None
    global_header: bool = False  # Python fails when the archive ends after one

    @property
    def empty(self) -> bool:
        return (self.pax is None and self.long_name is None and self.long_link is None
                and not self.global_header)


class StrictTarReader:
    """Iterate with `for member in reader`; read the current member's data with `read`.

    Data nobody reads is skipped when the iteration moves on. Every check that needs the
    whole archive (end blocks, names below links) runs before the iteration ends, so a
    caller must use its results only after the loop finished without an error.
    """

    def __init__(
        self,
        source: ByteSource,
        *,
        label: str,
        profile: Profile,
        max_members: int,
        max_member_bytes: int,
        max_header_bytes: int = MAX_EXTENDED_HEADER,
    ) -> None:
        self.label = label
        self.profile = profile
        self._max_header_bytes = min(max_header_bytes, MAX_EXTENDED_HEADER)
        self._source = source
        self._max_members = max_members
        self._max_member_bytes = max_member_bytes
        self._pos = 0
        self._remaining = 0  # unread data bytes of the current member
        self._padding = 0
        self._names: dict[str, Kind] = {}
        self._folded: dict[str, str] = {}
        self._links: list[str] = []

    # -- reading the stream -------------------------------------------------------------

    def _read_exact(self, size: int, what: str) -> bytes:
        parts: list[bytes] = []
        wanted = size
        while wanted:
            chunk = self._source.read(wanted)
            if not chunk:
                if self._pos == 0:
                    raise TarError(f"{self.label}: is an empty file, not a tar archive")
                raise TarError(f"{self.label}: the archive ends inside {what} "
                               f"(byte {self._pos}); it is truncated")
            parts.append(bytes(chunk))
            wanted -= len(chunk)
            self._pos += len(chunk)
        return b"".join(parts)

    def _skip(self, size: int) -> None:
        skipper = getattr(self._source, "skip", None)
        if skipper is not None:
            skipped = skipper(size)
            self._pos += skipped
            if skipped != size:
                raise TarError(f"{self.label}: the archive is truncated at byte {self._pos}")
            return
        while size:
            chunk = self._source.read(min(size, 1 << 20))
            if not chunk:
                raise TarError(f"{self.label}: the archive is truncated at byte {self._pos}")
            size -= len(chunk)
            self._pos += len(chunk)

    def read(self, size: int) -> bytes | memoryview:
        """Up to `size` bytes of the current member's data; empty when it is all read."""
        if self._remaining == 0:
            return b""
        chunk = self._source.read(min(size, self._remaining))
        if not chunk:
            raise TarError(f"{self.label}: the archive ends inside a member's data "
                           f"(byte {self._pos}); it is truncated")
        self._pos += len(chunk)
        self._remaining -= len(chunk)
        return chunk

    @property
    def position(self) -> int:
        return self._pos

    # -- members ------------------------------------------------------------------------

    def __iter__(self) -> Iterator[TarMember]:
        count = 0
        pending = _Pending()
        while True:
            if self._remaining:
                self._skip(self._remaining)
                self._remaining = 0
            if self._padding:
                self._skip(self._padding)
                self._padding = 0
            at = self._pos
            block = self._read_exact(BLOCK, "a header")
            if block == bytes(BLOCK):
                if not pending.empty:
                    raise TarError(f"{self.label}: an extended header at byte {at} is "
                                   "followed by the end of the archive")
                self._end(at)
                self._check_names()
                return
            count += 1
            if count > self._max_members + 2:
                raise TarError(f"{self.label}: holds more than {self._max_members} members")
            member = self._header(block, at, pending)
            if member is None:
                continue
            pending = _Pending()
            yield member

    def _end(self, at: int) -> None:
        second = self._read_exact(BLOCK, "the end-of-archive blocks")
        if second != bytes(BLOCK):
            raise TarError(f"{self.label}: a single zero block at byte {at} is followed by "
                           "more data (readers disagree on where such an archive ends)")
        trailing = 0
        while True:
            chunk = self._source.read(1 << 16)
            if not chunk:
                return
            if bytes(chunk).count(0) != len(chunk):
                raise TarError(f"{self.label}: data follows the end of the archive "
                               f"(byte {self._pos})")
            trailing += len(chunk)
            self._pos += len(chunk)
            if trailing > MAX_TRAILING_ZEROS:
                raise TarError(f"{self.label}: more than {MAX_TRAILING_ZEROS} bytes follow "
                               "the end of the archive")

    def _header(self, block: bytes, at: int, pending: _Pending) -> TarMember | None:
        label = self.label
        if at == 0 and not _looks_like_header(block):
            raise TarError(f"{label}: is not a tar archive (no valid header at its start)")
        stored = _octal(label, block[148:156], "checksum", at)
        if not _checksum_ok(block, stored):
            raise TarError(f"{label}: the header at byte {at} has a wrong checksum (the archive "
                           "is damaged or crafted)")
        magic = block[257:265]
        if magic == _POSIX_MAGIC:
            if block[508:512] == _STAR_TRAILER:
                raise TarError(f"{label}: the header at byte {at} ends in a star trailer "
                               "(readers disagree on its name)")
            prefix = _c_string(block[345:500])
        elif self.profile is Profile.LAYER and magic in (_GNU_MAGIC, bytes(8)):
            if block[345:500].strip(b"\x00"):
                raise TarError(f"{label}: the header at byte {at} has data in its prefix field "
                               "without ustar magic (readers disagree on its name)")
            prefix = b""
        else:
            raise TarError(f"{label}: the header at byte {at} is not POSIX ustar (magic "
                           f"{describe_name(magic.decode('latin-1'))!r})")
        typeflag = block[156:157]
        size = _octal(label, block[124:136], "size", at)
        mode = _octal(label, block[100:108], "mode", at)
        for start, end, what in ((108, 116, "uid"), (116, 124, "gid"), (136, 148, "mtime"),
                                 (329, 337, "device major"), (337, 345, "device minor")):
            _octal(label, block[start:end], what, at)
        if typeflag in (b"x", b"g", b"L", b"K"):
            self._extended(typeflag, size, at, pending)
            return None
        kind = _TYPES.get(typeflag)
        if kind is None:
            raise TarError(f"{label}: the member at byte {at} has type "
                           f"{describe_name(typeflag.decode('latin-1'))!r}, which the station "
                           "does not read (sparse, contiguous or vendor types)")
        raw_name = _c_string(block[0:100])
        if prefix:
            raw_name = prefix + b"/" + raw_name
        name = _text(label, raw_name, "member name", at)
        linkname = _text(label, _c_string(block[157:257]), "link name", at)
        pax = pending.pax or {}
        if pending.long_name is not None:
            name = pending.long_name
        if "path" in pax:
            name = pax["path"]
        if pending.long_link is not None:
            linkname = pending.long_link
        if "linkpath" in pax:
            linkname = pax["linkpath"]
        if "size" in pax:
            size = int(pax["size"])
        if kind is Kind.FILE and name.endswith("/"):
            # Only the old `\0` type makes a folder of it (for Python and Go alike); a `0`
            # file named `a/` is a file to them and a folder once extracted.
            if self.profile is Profile.IMAGE or typeflag != b"\x00":
                raise TarError(f"{label}: the member at byte {at} is a file whose name ends "
                               "in '/' (readers take it for a folder)")
            kind = Kind.DIR
        self._check_kind(kind, at)
        if kind is not Kind.FILE and size:
            raise TarError(f"{label}: the {kind.value} member at byte {at} declares "
                           f"{size} bytes of data")
        if size > self._max_member_bytes:
            raise TarError(f"{label}: a member at byte {at} is {size} bytes, over the limit of "
                           f"{self._max_member_bytes}")
        name = self._normalise(name, kind, at)
        if kind in (Kind.SYMLINK, Kind.HARDLINK) and not linkname:
            raise TarError(f"{label}: the link {describe_name(name)} has no target")
        self._remember(name, kind, at)
        self._remaining = size
        self._padding = -size % BLOCK
        return TarMember(name, kind, size, linkname, mode, self._pos)

    def _check_kind(self, kind: Kind, at: int) -> None:
        if self.profile is Profile.IMAGE and kind not in (Kind.FILE, Kind.DIR, Kind.SYMLINK):
            raise TarError(f"{self.label}: the member at byte {at} is a {kind.value}; an image "
                           "archive holds only files, folders and symbolic links")

    def _extended(self, typeflag: bytes, size: int, at: int, pending: _Pending) -> None:
        label = self.label
        if size > self._max_header_bytes:
            raise TarError(f"{label}: an extended header at byte {at} is {size} bytes, over "
                           f"the limit of {self._max_header_bytes}")
        data = self._read_exact(size, "an extended header")
        self._skip(-size % BLOCK)
        if typeflag == b"x":
            if pending.pax is not None:
                raise TarError(f"{label}: two PAX headers at byte {at} describe one member "
                               "(readers keep different ones)")
            pending.pax = parse_pax(label, data, at)
        elif typeflag == b"g":
            records = parse_pax(label, data, at)
            if self.profile is Profile.IMAGE or set(records) - {"comment"}:
                raise TarError(f"{label}: a global PAX header at byte {at} (readers apply it "
                               "differently)")
            pending.global_header = True
        else:
            if self.profile is Profile.IMAGE:
                raise TarError(f"{label}: a GNU long-name header at byte {at}; image archives "
                               "must be POSIX ustar or PAX")
            text = _text(label, _c_string(data), "GNU long name", at)
            if typeflag == b"L":
                if pending.long_name is not None:
                    raise TarError(f"{label}: two GNU long names at byte {at} for one member")
                pending.long_name = text
            else:
                if pending.long_link is not None:
                    raise TarError(f"{label}: two GNU long link names at byte {at}")
                pending.long_link = text
        pax = pending.pax or {}
        if (pending.long_name is not None and "path" in pax) or (
            pending.long_link is not None and "linkpath" in pax
        ):
            raise TarError(f"{label}: a member at byte {at} has both a GNU long name and a "
                           "PAX path (readers pick different ones)")

    # -- names --------------------------------------------------------------------------

    def _normalise(self, name: str, kind: Kind, at: int) -> str:
        original = name
        if self.profile is Profile.LAYER:
            name = name.lstrip("/")
        while name.startswith("./"):
            name = name[2:]
        if kind is Kind.DIR:
            name = name.removesuffix("/")
        if name in ("", "."):
            if kind is Kind.DIR:
                return ""
            raise TarError(f"{self.label}: a member at byte {at} has an empty name")
        if self.profile is Profile.LAYER:
            cleaned = posixpath.normpath(name)
            if cleaned == ".." or cleaned.startswith("../"):
                raise UnsafeMember(f"{self.label}: the member {describe_name(original)!r} at byte "
                               f"{at} points outside the layer")
            return cleaned
        try:
            return check_relative_path(name)
        except UnsafePathError as exc:
            raise UnsafeMember(f"{self.label}: member at byte {at}: {exc.message}") from None

    def _remember(self, name: str, kind: Kind, at: int) -> None:
        if self.profile is not Profile.IMAGE or not name:
            return
        previous = self._names.get(name)
        if previous is not None:
            if previous is Kind.DIR and kind is Kind.DIR:
                return
            raise TarError(f"{self.label}: the member {describe_name(name)} appears more than "
                           "once (readers keep different copies)")
        folded = unicodedata.normalize("NFC", name).casefold()
        other = self._folded.get(folded)
        if other is not None:
            raise TarError(f"{self.label}: the members {describe_name(other)} and "
                           f"{describe_name(name)} differ only in case or Unicode form")
        if len(self._names) >= self._max_members:
            raise TarError(f"{self.label}: holds more than {self._max_members} members")
        self._names[name] = kind
        self._folded[folded] = name
        if kind is Kind.SYMLINK:
            self._links.append(name)

    def _check_names(self) -> None:
        """No member below a symlink, nor a file where another member needs a folder."""
        if self.profile is not Profile.IMAGE:
            return
        for name in self._names:
            parent = posixpath.dirname(name)
            while parent:
                kind = self._names.get(parent)
                if kind is Kind.SYMLINK:
                    raise TarError(f"{self.label}: the member {describe_name(name)} lies below "
                                   f"the symbolic link {describe_name(parent)}; an extracting "
                                   "loader would write it elsewhere")
                if kind is not None and kind is not Kind.DIR:
                    raise TarError(f"{self.label}: the member {describe_name(name)} lies below "
                                   f"{describe_name(parent)}, which is not a folder")
                parent = posixpath.dirname(parent)

    @property
    def names(self) -> dict[str, Kind]:
        """Every member name seen (IMAGE profile), with its kind."""
        return dict(self._names)
