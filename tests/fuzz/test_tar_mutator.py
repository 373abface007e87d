"""The fuzzer's tar mutator walks headers of mutated archives; it must end on any of them.

A size field of "-1000" (which Python's int() reads, as -512) once sent the walk back to the
same header forever, and libFuzzer reported the mutator's own growing list as an
out-of-memory of the station's reader.
"""

from __future__ import annotations

import tarfile

import pytest

from tests.strategies import fix_checksums, header_offsets


def _header(size_field: bytes) -> bytes:
    block = bytearray(tarfile.BLOCKSIZE)
    block[0:4] = b"file"
    block[124:124 + len(size_field)] = size_field
    return bytes(block)


@pytest.mark.timeout(10)  # the old walk never ended, growing its list
def test_a_negative_size_field_ends_the_walk() -> None:
    archive = _header(b"-1000\x00") + _header(b"0\x00") + bytes(2 * tarfile.BLOCKSIZE)

    assert header_offsets(archive) == [0]
    assert len(fix_checksums(archive)) == len(archive)


def test_the_walk_follows_sizes_to_every_header() -> None:
    archive = (_header(b"1000\x00") + bytes(512) + _header(b"0\x00")
               + bytes(2 * tarfile.BLOCKSIZE))

    assert header_offsets(archive) == [0, 1024]
