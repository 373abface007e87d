"""Compressed streams, recognised by their magic bytes and decompressed as they are read.

Image archives come as plain tar or compressed with gzip (`docker save | gzip`), bzip2, xz or
zstd (`.tar.zst`, Hauler hauls); layers as tar, tar+gzip or tar+zstd. Every decompression
call here is bounded (`max_length`), so a 21 KB bomb never becomes gigabytes in memory, and
what is produced counts against a limit. Concatenated streams are accepted, as Go's and
Python's readers both accept them; anything else after the last stream is refused, and so
is a stream cut short: a reader that stops early and one that goes on would see different
data. zstd is read with the standard library's `compression.zstd` (Python 3.14) or its
official backport, which share the interface of `bz2` and `lzma`.

`Decompressed` is a pull source (the strict tar reader reads from it); `DigestTap` is pushed
the compressed bytes of a blob while the blob is copied and gives the digest of its
decompressed content (a layer's `diff_id`), passing that content on when asked (to the
malware scan of the layer's files).
"""

from __future__ import annotations

import bz2
import hashlib
import lzma
import zlib
from collections.abc import Callable
from enum import Enum
from typing import Any

from station.errors import BundleError

try:  # Python 3.14+
    from compression import zstd as _zstd  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # pragma: no cover - depends on the Python version
    from backports import zstd as _zstd  # type: ignore[import-not-found,no-redef,unused-ignore]

CHUNK = 256 * 1024
MAGIC_BYTES = 6


class Compression(Enum):
    GZIP = "gzip"
    BZIP2 = "bzip2"
    XZ = "xz"
    ZSTD = "zstd"


_MAGIC: tuple[tuple[bytes, Compression], ...] = (
    (b"\x1f\x8b\x08", Compression.GZIP),
    (b"BZh", Compression.BZIP2),
    (b"\xfd7zXZ\x00", Compression.XZ),
    (b"\x28\xb5\x2f\xfd", Compression.ZSTD),
)
_ERRORS: tuple[type[BaseException], ...] = (
    zlib.error, OSError, lzma.LZMAError, EOFError, ValueError, _zstd.ZstdError,
)

RawRead = Callable[[int], "bytes | memoryview"]


def detect(head: bytes | memoryview) -> Compression | None:
    """Which compression `head` (the first bytes of a stream) starts, if any."""
    start = bytes(head[:MAGIC_BYTES])
    for magic, kind in _MAGIC:
        if start.startswith(magic):
            return kind
    return None


class _Stream:
    """One compressed stream, decoded at most `size` bytes at a time."""

    def __init__(self, kind: Compression) -> None:
        self._zlib = kind is Compression.GZIP
        self._engine: Any
        if kind is Compression.GZIP:
            self._engine = zlib.decompressobj(wbits=31)
        elif kind is Compression.BZIP2:
            self._engine = bz2.BZ2Decompressor()
        elif kind is Compression.XZ:
            self._engine = lzma.LZMADecompressor(format=lzma.FORMAT_XZ)
        else:
            self._engine = _zstd.ZstdDecompressor()
        self._input = b""

    @property
    def needs_input(self) -> bool:
        if self._zlib:
            return not self._input
        return bool(self._engine.needs_input) and not self._input

    @property
    def eof(self) -> bool:
        return bool(self._engine.eof)

    @property
    def unused_data(self) -> bytes:
        return bytes(self._engine.unused_data)

    def give(self, data: bytes) -> None:
        self._input += data

    def take(self, size: int) -> bytes:
        data, self._input = self._input, b""
        out = self._engine.decompress(data, size)
        if self._zlib:
            self._input = self._engine.unconsumed_tail
        return bytes(out)


class _Decoder:
    """The state shared by the pull and push forms: streams in sequence, a byte budget."""

    def __init__(self, kind: Compression, label: str, max_output: int) -> None:
        self.kind = kind
        self.label = label
        self.max_output = max_output
        self.produced = 0
        self.streams = 0
        self.stream: _Stream | None = None
        self.pending = b""  # compressed bytes not yet given to a stream

    def start(self) -> None:
        if detect(self.pending) is not self.kind:
            raise BundleError(f"{self.label}: data follows the end of the {self.kind.value} "
                              "stream")
        self.stream = _Stream(self.kind)
        self.streams += 1

    def step(self, size: int) -> bytes:
        """Decode at most `size` bytes from what the current stream has been given."""
        stream = self.stream
        assert stream is not None  # noqa: S101 - callers start a stream first
        if stream.needs_input and self.pending:
            stream.give(self.pending)
            self.pending = b""
        try:
            out = stream.take(size)
        except _ERRORS as exc:
            raise BundleError(f"{self.label}: the {self.kind.value} data is damaged ({exc})"
                              ) from None
        if stream.eof:
            self.pending = stream.unused_data + self.pending
            self.stream = None
        self.produced += len(out)
        if self.produced > self.max_output:
            raise BundleError(
                f"{self.label}: decompresses to more than {self.max_output} bytes",
                hint="the data is a decompression bomb or larger than the station's limits",
            )
        return out

    def cut_short(self) -> BundleError:
        return BundleError(f"{self.label}: the {self.kind.value} data is cut short")


class Decompressed:
    """A pull source of decompressed bytes; every error is a BundleError naming `label`."""

    def __init__(self, read_raw: RawRead, kind: Compression, *, label: str, max_output: int
                 ) -> None:
        self._read_raw = read_raw
        self._decoder = _Decoder(kind, label, max_output)
        self._raw_done = False

    @property
    def produced(self) -> int:
        return self._decoder.produced

    def _fetch(self) -> bool:
        if self._raw_done:
            return False
        raw = self._read_raw(CHUNK)
        if not raw:
            self._raw_done = True
            return False
        self._decoder.pending += bytes(raw)
        return True

    def read(self, size: int, /) -> bytes:
        decoder = self._decoder
        while True:
            if decoder.stream is None:
                if not decoder.pending and not self._fetch():
                    if decoder.streams == 0:
                        raise decoder.cut_short()
                    return b""
                if len(decoder.pending) < MAGIC_BYTES:
                    self._fetch()
                decoder.start()
            stream = decoder.stream
            assert stream is not None  # noqa: S101
            if stream.needs_input and not decoder.pending and not self._fetch():
                raise decoder.cut_short()
            out = decoder.step(size)
            if out:
                return out

    def drain(self) -> None:
        """Read to the end, checking the stream is complete and nothing follows it."""
        while self.read(CHUNK):
            pass


class DigestTap:
    """The sha256 of a blob's content once decompressed, fed the compressed bytes in order."""

    def __init__(
        self,
        kind: Compression,
        *,
        label: str,
        max_output: int,
        on_output: Callable[[bytes], None] | None = None,
    ) -> None:
        self._decoder = _Decoder(kind, label, max_output)
        self._hash = hashlib.sha256()
        self._on_output = on_output

    def _take(self, out: bytes) -> None:
        if out:
            self._hash.update(out)
            if self._on_output is not None:
                self._on_output(out)

    def feed(self, data: bytes | memoryview) -> None:
        decoder = self._decoder
        decoder.pending += bytes(data)
        while True:
            if decoder.stream is None:
                if len(decoder.pending) < MAGIC_BYTES:
                    return  # wait for more (or finish() judges what is left)
                decoder.start()
            stream = decoder.stream
            assert stream is not None  # noqa: S101
            if stream.needs_input and not decoder.pending:
                return
            self._take(decoder.step(CHUNK))

    def finish(self) -> str:
        """The digest of the decompressed content; refuses a stream cut short."""
        decoder = self._decoder
        if decoder.stream is None and decoder.pending:
            decoder.start()  # a short tail: either garbage or the start of another stream
            while decoder.stream is not None and not decoder.stream.needs_input:
                self._take(decoder.step(CHUNK))
        if decoder.stream is not None or decoder.pending or decoder.streams == 0:
            raise decoder.cut_short()
        return "sha256:" + self._hash.hexdigest()
