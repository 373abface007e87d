"""One read of a media file: the file's hash, with the hash computed beside the reader.

An image archive's read hashes the whole file in a thread of its own while the reader splits
and hashes members. The digest must be the file's, whatever sizes the reader asks for and
however far ahead the reader runs; a read stopped half-way must not leave a thread behind.
"""

from __future__ import annotations

import hashlib
import os
import random
import threading
from pathlib import Path

import pytest

from station.bundle.safety import open_media_file
from station.verify.streams import CHUNK, MediaStream, StopSignal


def _stream(path: Path, aside: bool, sink: list[bytes] | None = None) -> MediaStream:
    media = open_media_file(path.parent, path.name, max_size=1 << 40)
    sinks = [lambda chunk: sink.append(bytes(chunk))] if sink is not None else []
    return MediaStream(media, on_bytes=lambda count: None, stop=StopSignal(None),
                       sinks=sinks, hash_aside=aside)


@pytest.mark.parametrize("aside", [True, False], ids=["aside", "inline"])
def test_the_digest_is_the_files_whatever_the_reader_asks_for(tmp_path: Path,
                                                               aside: bool) -> None:
    data = os.urandom(CHUNK * 9 + 12345)  # more chunks than the ring holds
    path = tmp_path / "image.tar"
    path.write_bytes(data)
    sink: list[bytes] = []
    stream = _stream(path, aside, sink)
    sizes = random.Random(7)
    read = bytearray()
    while chunk := stream.read(sizes.choice([1, 511, 4096, CHUNK, 3 * CHUNK])):
        read += chunk  # the reader holds what it read while the hash runs ahead

    assert bytes(read) == data and b"".join(sink) == data
    assert stream.digest == hashlib.sha256(data).hexdigest()
    stream.close()


def test_a_read_stopped_half_way_leaves_no_thread_behind(tmp_path: Path) -> None:
    path = tmp_path / "image.tar"
    path.write_bytes(os.urandom(CHUNK * 12))
    stream = _stream(path, True)
    for _ in range(7):
        stream.read(CHUNK)

    stream.close()

    assert not [t for t in threading.enumerate() if t.name == "hash-aside" and t.is_alive()]
