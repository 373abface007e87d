"""A docker-archive written by the station from verified blobs, sent to `docker load`.

Docker 20.10 loads `docker save` tarballs only (not OCI archives), and its loader extracts
the tar it is given. So the engine never receives the media's archive: the station writes a
new one, member by member, from the staged blobs: `<config hex>.json`, one
`<layer digest hex>/layer.tar` per layer and a `manifest.json` without tags (the station
tags the image itself, after checking the loaded ID). Plain ustar headers with short names,
nothing a parser could read two ways.

The archive's exact length is known before its first byte (every member's size is), so it
goes to the engine with a Content-Length and each staged blob goes with `sendfile`: from
the page cache straight into the engine's socket, no copy through the station's memory. A
zstd layer, which Docker 20.10 cannot read, is decompressed on the way (counted once first,
as a tar header needs the size up front). Nothing is written to disk; memory stays at one
chunk.
"""

from __future__ import annotations

import contextlib
import json
import socket
import tarfile
import threading
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path

from station.bundle.compression import CHUNK, Compression, Decompressed
from station.bundle.model import ImageInfo
from station.errors import BundleError
from station.importing.base import ImportFailed
from station.importing.layout import BytesCallback
from station.progress import check_cancel

ZSTD_LAYER = "application/vnd.oci.image.layer.v1.tar+zstd"
BLOCK = tarfile.BLOCKSIZE
SENDFILE_CHUNK = 8 * 1024 * 1024  # between two chunks: progress and a stop request


def _header(name: str, size: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o644
    info.mtime = 0
    return info.tobuf(format=tarfile.USTAR_FORMAT, encoding="ascii", errors="strict")


def _padding(size: int) -> bytes:
    return bytes(-size % BLOCK)


@dataclass(frozen=True)
class _Member:
    """One member: its header, then its content (a staged blob, or bytes the station made)."""

    header: bytes
    size: int
    path: Path | None = None
    data: bytes = b""
    zstd: bool = False

    @property
    def length(self) -> int:
        return len(self.header) + self.size + len(_padding(self.size))


class StagedBlobError(ImportFailed):
    """A staged blob could not be read as it was when the archive was planned."""


def _zstd_chunks(path: Path) -> Generator[bytes, None, None]:
    """The decompressed content of a staged zstd layer; BundleError or OSError when it does
    not read (it was verified: staging changed)."""
    with open(path, "rb") as data:
        source = Decompressed(data.read, Compression.ZSTD, label=path.name, max_output=1 << 62)
        while chunk := source.read(CHUNK):
            yield chunk


class CanonicalArchive:
    """The station's docker-archive of `image`: its exact `length`, then `send` its bytes."""

    def __init__(self, image: ImageInfo, blobs: Path) -> None:
        self.image = image
        self.blobs = blobs
        try:
            self.members = self._plan()
        except (OSError, BundleError) as exc:
            raise self._unreadable(exc) from exc
        self.length = sum(member.length for member in self.members) + 2 * BLOCK

    def _unreadable(self, cause: object) -> StagedBlobError:
        return StagedBlobError(
            f"cannot read the staged image {self.image.config_digest}: {cause}",
            hint="staging changed after verification; verify the bundle again",
        )

    def _blob(self, digest: str) -> Path:
        return self.blobs / digest.removeprefix("sha256:")

    def _file(self, name: str, digest: str, zstd: bool = False) -> _Member:
        path = self._blob(digest)
        size = path.stat().st_size
        if zstd:
            size = sum(len(chunk) for chunk in _zstd_chunks(path))
        return _Member(_header(name, size), size, path=path, zstd=zstd)

    def _plan(self) -> list[_Member]:
        image = self.image
        config_name = image.config_digest.removeprefix("sha256:") + ".json"
        members = [self._file(config_name, image.config_digest)]
        layer_names: list[str] = []
        for layer in image.layers:
            name = layer.digest.removeprefix("sha256:") + "/layer.tar"
            if name not in layer_names:
                members.append(self._file(name, layer.digest, layer.media_type == ZSTD_LAYER))
            layer_names.append(name)
        manifest = json.dumps(
            [{"Config": config_name, "RepoTags": None, "Layers": layer_names}]
        ).encode()
        members.append(_Member(_header("manifest.json", len(manifest)), len(manifest),
                               data=manifest))
        return members

    def send(self, out: socket.socket, meter: BytesCallback,
             cancel: threading.Event | None) -> None:
        """Write the whole archive to `out`. A staged blob that no longer reads as planned
        raises StagedBlobError; the socket's own errors (the engine went away) pass up."""
        for member in self.members:
            out.sendall(member.header)
            if member.path is None:
                out.sendall(member.data)
                meter(member.size)
            elif member.zstd:
                self._send_zstd(out, member, meter, cancel)
            else:
                self._send_file(out, member, meter, cancel)
            out.sendall(_padding(member.size))
        out.sendall(bytes(2 * BLOCK))

    def _send_file(self, out: socket.socket, member: _Member, meter: BytesCallback,
                   cancel: threading.Event | None) -> None:
        assert member.path is not None  # noqa: S101
        try:
            data = open(member.path, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise self._unreadable(exc) from exc
        with data:
            offset = 0
            while offset < member.size:
                check_cancel(cancel, "import stopped")
                sent = out.sendfile(data, offset, min(SENDFILE_CHUNK, member.size - offset))
                if sent == 0:
                    raise self._unreadable(f"{member.path.name} is shorter than when planned")
                offset += sent
                meter(sent)

    def _send_zstd(self, out: socket.socket, member: _Member, meter: BytesCallback,
                   cancel: threading.Event | None) -> None:
        assert member.path is not None  # noqa: S101
        sent = 0
        with contextlib.closing(_zstd_chunks(member.path)) as chunks:
            while True:
                try:
                    chunk = next(chunks, b"")
                except (OSError, BundleError) as exc:
                    raise self._unreadable(exc) from exc
                if not chunk or sent + len(chunk) > member.size:
                    break
                check_cancel(cancel, "import stopped")
                out.sendall(chunk)
                sent += len(chunk)
                meter(len(chunk))
        if sent != member.size:
            raise self._unreadable(f"{member.path.name} changed since it was planned")
