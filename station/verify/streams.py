"""One read of a media file, and everything that read feeds.

`MediaStream` reads a file once, in fixed chunks into one reused buffer (constant memory; a
buffer that fits the CPU cache keeps hashlib near OpenSSL's speed), hashes every byte, counts
progress, honours a stop request, and hands each chunk to its sinks (the staged copy of a
file). What the bytes mean is decided by the consumer that pulls from it:

- a plain file is drained; if it is a tar (plain or compressed), its headers are walked on
  the way to make sure it is not an image archive in disguise;
- an image archive is split by the strict tar reader into blobs, each written to the blob
  store under the digest computed while writing it, with the digest of its decompressed
  content for compressed layers;
- a file of an OCI layout folder is one blob.

mmap is not used on purpose: a stick pulled out under a mapping kills the process with
SIGBUS, while `read` fails with an error the station can report.
"""

from __future__ import annotations

import errno
import hashlib
import os
import queue
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from station.bundle.compression import MAGIC_BYTES, Compression, Decompressed, DigestTap, detect
from station.bundle.contents import is_tar_header
from station.bundle.members import Blob, Members, read_members, wants_bytes
from station.bundle.oci_json import blob_path
from station.bundle.safety import MediaFile, describe_name
from station.bundle.strict_tar import (
    BLOCK,
    Prefixed,
    Profile,
    StrictTarReader,
    TarError,
    TarMember,
)
from station.config import Limits
from station.errors import BundleError, Cancelled, MediaError
from station.verify.blobstore import BlobStore

if TYPE_CHECKING:
    from _hashlib import HASH

    from station.verify.malware_tap import LayerScan, MalwareTap


CHUNK = 256 * 1024
MEDIA_GONE = frozenset(
    {errno.EIO, errno.ENODEV, errno.ENXIO, errno.ENOENT, errno.ESTALE, errno.ENOTCONN}
)

ChunkSink = Callable[[memoryview], None]


class StopSignal:
    """Set by the operator's cancel event or by a failure in any worker."""

    def __init__(self, cancel: threading.Event | None) -> None:
        self._cancel = cancel
        self._failed = threading.Event()

    def set(self) -> None:
        self._failed.set()

    def is_set(self) -> bool:
        return self._failed.is_set() or (self._cancel is not None and self._cancel.is_set())


class _HashAside:
    """SHA-256 of a stream computed in a thread of its own, over the reader's buffers.

    An image archive is hashed twice as it is read: the whole file (the signed checksum)
    and each member (the blob's name). On one thread that halves the read's speed while
    the other core idles; here the whole-file hash runs beside the reader. The reader
    fills RING buffers in turn and hands each over; a buffer is filled again only after
    the thread is done with it (at most RING - 1 are ever in the thread's hands).
    """

    RING = 4

    def __init__(self, hash: HASH) -> None:
        self.hash = hash
        self.buffers = [bytearray(CHUNK) for _ in range(self.RING)]
        self._pending: queue.Queue[memoryview | None] = queue.Queue(maxsize=self.RING - 2)
        self._thread = threading.Thread(target=self._run, name="hash-aside", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (chunk := self._pending.get()) is not None:
            self.hash.update(chunk)

    def submit(self, chunk: memoryview) -> None:
        self._pending.put(chunk)

    def finish(self) -> None:
        if self._thread.is_alive():
            self._pending.put(None)
            self._thread.join()


class MediaStream:
    """A `ByteSource` over one media file; every byte read is hashed and passed to `sinks`.

    Reading stops one byte past the size `fstat` gave (`grew` then tells the file changed).
    A read error of a vanishing device is a `MediaError` (the transfer is aborted, not
    rejected). With `hash_aside`, the file's hash is computed in a thread of its own (for
    readers that hash the same bytes again, member by member); `close` then ends it.
    `into` is a running hash to add the bytes to (the parts of a split package hash as one
    file), instead of a hash of this file alone.
    """

    def __init__(
        self,
        media_file: MediaFile,
        *,
        on_bytes: Callable[[int], None],
        stop: StopSignal,
        sinks: Sequence[ChunkSink] = (),
        hash_aside: bool = False,
        into: HASH | None = None,
    ) -> None:
        self._file = media_file
        self._on_bytes = on_bytes
        self._stop = stop
        self._sinks = list(sinks)
        self.hash = into if into is not None else hashlib.sha256()
        self._aside = _HashAside(self.hash) if hash_aside else None
        self._buffers = self._aside.buffers if self._aside else [bytearray(CHUNK)]
        self._filled = 0
        self._view = memoryview(self._buffers[0])
        self._start = 0
        self._end = 0
        self._eof = False
        self.done = 0

    @property
    def shown(self) -> str:
        return describe_name(self._file.path)

    @property
    def grew(self) -> bool:
        return self.done > self._file.size

    def _fill(self) -> None:
        if self._eof:
            return
        if self._stop.is_set():
            raise Cancelled("verification stopped")
        buffer = self._buffers[self._filled % len(self._buffers)]
        self._filled += 1
        self._view = memoryview(buffer)
        try:
            count = os.readv(self._file.fd, [buffer])
        except OSError as exc:
            if exc.errno in MEDIA_GONE:
                raise MediaError(f"the media stopped answering while reading {self.shown}"
                                 ) from exc
            raise MediaError(f"cannot read {self.shown}: {exc.strerror}") from exc
        if count == 0:
            self._eof = True
            return
        chunk = self._view[:count]
        if self._aside is not None:
            self._aside.submit(chunk)
        else:
            self.hash.update(chunk)
        for sink in self._sinks:
            sink(chunk)
        self.done += count
        self._on_bytes(count)
        self._start, self._end = 0, count
        if self.done > self._file.size:
            self._eof = True  # the file grew: stop here; the caller reports it

    def read(self, size: int, /) -> memoryview:
        if self._start >= self._end:
            self._fill()
            if self._start >= self._end:
                return self._view[:0]
        take = min(size, self._end - self._start)
        chunk = self._view[self._start:self._start + take]
        self._start += take
        return chunk

    def peek(self, size: int) -> bytes:
        """Up to `size` bytes from the start of the file, without consuming them."""
        if self._start >= self._end:
            self._fill()
        return bytes(self._view[self._start:min(self._end, self._start + size)])

    def drain(self) -> None:
        while self.read(CHUNK):
            pass

    @property
    def digest(self) -> str:
        self.close()
        return self.hash.hexdigest()

    def close(self) -> None:
        """Every byte read is in the hash; the hashing thread, if any, has ended (a stream
        stopped half-way included)."""
        if self._aside is not None:
            self._aside.finish()


def _opened(stream: MediaStream, label: str, limits: Limits
            ) -> tuple[Compression | None, Callable[[int], bytes | memoryview]]:
    kind = detect(stream.peek(MAGIC_BYTES))
    if kind is None:
        return None, stream.read
    source = Decompressed(stream.read, kind, label=label, max_output=limits.max_bundle_bytes)
    return kind, source.read


def scan_plain_file(stream: MediaStream, limits: Limits) -> list[str] | None:
    """Drain a plain file; if it is a tar, walk its headers for image-archive markers.

    Returns the markers found (`manifest.json`, `index.json`, ...) or None when the file is
    no tar. Raises BundleError when it is a tar that cannot be read completely: then nobody
    can tell what a loader would find in it.
    """
    label = stream.shown
    try:
        _, read = _opened(stream, label, limits)
        head = b""
        while len(head) < BLOCK:
            chunk = read(BLOCK - len(head))
            if not chunk:
                break
            head += bytes(chunk)
        if not is_tar_header(head):
            stream.drain()
            return None
        reader = StrictTarReader(
            Prefixed(head, read), label=label, profile=Profile.LAYER,
            max_members=limits.max_files, max_member_bytes=limits.max_file_bytes,
        )
        names = {member.name for member in reader}
    except (TarError, BundleError) as exc:
        raise BundleError(f"{label} is a tar archive that cannot be read completely "
                          f"({exc.message.removeprefix(label + ': ')}), so the station "
                          "cannot tell whether it holds images") from None
    stream.drain()
    return sorted(names & {"manifest.json", "index.json", "oci-layout", "repositories"})


class BlobSink:
    """Where one blob's bytes go as they are read: the store, the diff digest, the JSON kept.

    The first bytes decide: gzip or zstd magic starts a `DigestTap` (a layer's diff_id);
    what may be JSON (small, the right name or a `{`) is kept in memory for the readers.
    """

    def __init__(self, store: BlobStore, name: str, size: int, label: str, limits: Limits,
                 layer: LayerScan | None = None,
                 digest_from: Callable[[], str] | None = None) -> None:
        self._writer = store.writer(f"{label}: {name}", digest_from)
        self._layer = layer
        self._name = name
        self._size = size
        self._label = label
        self._limits = limits
        self._held = b""
        self._decided = False
        self._tap: DigestTap | None = None
        self._kind: Compression | None = None
        self._kept: list[bytes] | None = None

    def feed(self, data: bytes | memoryview) -> None:
        self._writer.write(data)
        if self._decided:
            self._after(data)
            return
        self._held += bytes(data)
        if len(self._held) >= MAGIC_BYTES:
            self._decide()

    def _decide(self) -> None:
        self._decided = True
        held, self._held = self._held, b""
        self._kind = detect(held)
        if self._kind in (Compression.GZIP, Compression.ZSTD, Compression.BZIP2,
                          Compression.XZ):
            self._tap = DigestTap(self._kind, label=f"{self._label}: {self._name}",
                                  max_output=self._limits.max_bundle_bytes,
                                  on_output=self._layer.feed if self._layer else None)
        if wants_bytes(self._name, self._size, held):
            self._kept = []
        self._after(held)

    def _after(self, data: bytes | memoryview) -> None:
        if self._tap is not None:
            self._tap.feed(data)
        elif self._layer is not None:
            self._layer.feed(data)
        if self._kept is not None:
            self._kept.append(bytes(data))

    def take(self, read: Callable[[int], bytes | memoryview]) -> tuple[Blob, bytes | None]:
        """Feed everything `read` gives (a tar member), then finish; on any failure the
        partial blob is discarded."""
        try:
            while chunk := read(CHUNK):
                self.feed(chunk)
            return self.finish()
        except BaseException:
            self.discard()
            raise

    def finish(self) -> tuple[Blob, bytes | None]:
        if not self._decided:
            self._decide()
        digest = self._writer.commit()
        content = self._tap.finish() if self._tap is not None else None
        if self._layer is not None:
            self._layer.finish(digest)
        kept = b"".join(self._kept) if self._kept is not None else None
        return Blob(self._writer.size, digest, content, self._kind if self._tap else None), kept

    def discard(self) -> None:
        self._writer.discard()
        if self._layer is not None:
            self._layer.abort()


def _check_blob_name(label: str, name: str, blob: Blob) -> None:
    """A member named `blobs/sha256/<hex>` must hash to <hex>."""
    if name.startswith("blobs/") and blob_path(blob.digest or "") != name:
        raise BundleError(f"{label}: {describe_name(name)} does not match its digest (the blob "
                          f"hashes to {blob.digest})")


def split_archive(stream: MediaStream, store: BlobStore, limits: Limits, members: Members,
                  malware: MalwareTap | None = None) -> Members:
    """Split an image archive into blobs while it is hashed; fill `members` (the result is
    valid only when this returns)."""
    label = stream.shown
    _, read = _opened(stream, label, limits)

    def on_file(member: TarMember, reader: StrictTarReader) -> tuple[Blob, bytes | None]:
        layer = malware.layer_scan(label, member.name) if malware is not None else None
        sink = BlobSink(store, member.name, member.size, label, limits, layer)
        blob, kept = sink.take(reader.read)
        _check_blob_name(label, member.name, blob)
        return blob, kept

    read_members(Prefixed(b"", read), label=label, limits=limits, on_file=on_file,
                 into=members)
    stream.drain()
    return members


def blob_from_stream(stream: MediaStream, sink: BlobSink, name: str, label: str
                     ) -> tuple[Blob, bytes | None]:
    """A layout folder's file, read whole as one blob (the stream's sink feeds `sink`)."""
    stream.drain()
    blob, kept = sink.finish()
    _check_blob_name(label, name, blob)
    return blob, kept
