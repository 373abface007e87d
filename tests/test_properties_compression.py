"""Properties of the decompressing readers (`Decompressed`, pulled; `DigestTap`, pushed).

- whatever follows a compression magic, only BundleError;
- what gzip, bzip2, xz and zstd write (one stream or several concatenated) is read back
  exactly, whatever the read sizes, and the tap gives the digest of the same content;
- a stream cut short, or followed by anything, is refused; what is accepted, the standard
  library's one-shot decompressors read the same;
- output is bounded: past `max_output` the reader refuses instead of growing.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import hashlib
import io
import lzma
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from station.bundle.compression import Compression, Decompressed, DigestTap, _zstd
from station.errors import BundleError
from tests.strategies import examples

SETTINGS = settings(max_examples=examples(120), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

COMPRESS: dict[Compression, Callable[[bytes], bytes]] = {
    Compression.GZIP: lambda data: gzip.compress(data, mtime=0),
    Compression.BZIP2: bz2.compress,
    Compression.XZ: lambda data: lzma.compress(data, format=lzma.FORMAT_XZ),
    Compression.ZSTD: _zstd.compress,
}
DECOMPRESS: dict[Compression, Callable[[bytes], bytes]] = {
    Compression.GZIP: gzip.decompress,
    Compression.BZIP2: bz2.decompress,
    Compression.XZ: lambda data: lzma.decompress(data, format=lzma.FORMAT_XZ),
    Compression.ZSTD: _zstd.decompress,
}
KINDS = st.sampled_from(list(Compression))
# Compressible and incompressible content, small and past one 256 KiB chunk.
CONTENT = st.one_of(
    st.binary(max_size=2000),
    st.tuples(st.binary(min_size=1, max_size=16), st.integers(1, 40_000)).map(
        lambda p: p[0] * p[1]),
    st.integers(0, 600_000).map(lambda n: hashlib.shake_256(str(n).encode()).digest(n)),
)


def _pull(raw: bytes, kind: Compression, sizes: list[int], max_output: int = 1 << 30
          ) -> bytes:
    source = io.BytesIO(raw)
    reader = Decompressed(lambda n: source.read(min(n, 7000)), kind, label="blob",
                          max_output=max_output)
    out = bytearray()
    turn = 0
    while chunk := reader.read(sizes[turn % len(sizes)] if sizes else 65536):
        out += chunk
        turn += 1
    return bytes(out)


def _tap(raw: bytes, kind: Compression, pieces: list[int]) -> str:
    tap = DigestTap(kind, label="blob", max_output=1 << 30)
    pos, turn = 0, 0
    while pos < len(raw):
        size = pieces[turn % len(pieces)] if pieces else len(raw)
        tap.feed(memoryview(raw)[pos:pos + size])
        pos += size
        turn += 1
    return tap.finish()


@SETTINGS
@given(kind=KINDS, parts=st.lists(CONTENT, min_size=1, max_size=3),
       sizes=st.lists(st.integers(1, 300_000), max_size=4),
       pieces=st.lists(st.integers(1, 70_000), max_size=4))
def test_what_compressors_write_is_read_back_exactly(kind: Compression, parts: list[bytes],
                                                     sizes: list[int], pieces: list[int]
                                                     ) -> None:
    raw = b"".join(COMPRESS[kind](part) for part in parts)
    content = b"".join(parts)
    assert _pull(raw, kind, sizes) == content
    assert _tap(raw, kind, pieces) == "sha256:" + hashlib.sha256(content).hexdigest()


def _outcome(read: Callable[[], object]) -> object:
    try:
        return read()
    except BundleError as exc:
        return exc


@SETTINGS
@given(kind=KINDS, content=CONTENT, cut=st.floats(0, 1, exclude_max=True),
       tail=st.sampled_from([b"", b"\x00", b"\x00" * 8, b"x", b"\x1f\x8b", b"BZh9"]),
       flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)),
                      max_size=3),
       pieces=st.lists(st.integers(1, 5000), max_size=3))
def test_damaged_streams_are_refused_or_read_as_the_standard_library_reads_them(
    kind: Compression, content: bytes, cut: float, tail: bytes,
    flips: list[tuple[float, int]], pieces: list[int],
) -> None:
    whole = COMPRESS[kind](content)
    raw = bytearray(whole[: max(1, int(len(whole) * cut))] if cut > 0.5 else whole) + tail
    for where, value in flips:
        raw[int(where * len(raw))] = value
    data = bytes(raw)
    pulled = _outcome(lambda: _pull(data, kind, []))
    tapped = _outcome(lambda: _tap(data, kind, pieces))
    if isinstance(pulled, bytes):
        assert pulled == DECOMPRESS[kind](data)
        assert tapped == "sha256:" + hashlib.sha256(pulled).hexdigest()
    else:
        assert isinstance(tapped, BundleError)
    if data != whole and data[: len(whole)] == whole:
        assert isinstance(pulled, BundleError), "bytes after the last stream were accepted"
    if len(data) < len(whole) and whole.startswith(data):
        assert isinstance(pulled, BundleError), "a stream cut short was accepted"


@SETTINGS
@given(kind=KINDS, junk=st.binary(max_size=300))
def test_junk_after_a_magic_raises_only_bundle_errors(kind: Compression, junk: bytes) -> None:
    magic = COMPRESS[kind](b"")[:6]
    data = magic + junk
    for read in (lambda: _pull(data, kind, [1, 100]), lambda: _tap(data, kind, [3])):
        with contextlib.suppress(BundleError):
            read()


@pytest.mark.parametrize("kind", list(Compression), ids=lambda k: k.value)
def test_output_past_the_limit_is_refused(kind: Compression) -> None:
    bomb = COMPRESS[kind](bytes(64 * 1024 * 1024))
    assert len(bomb) < 70_000
    with pytest.raises(BundleError, match="decompresses to more than 1048576 bytes"):
        _pull(bomb, kind, [1 << 30], max_output=1 << 20)
