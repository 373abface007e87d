"""A docker-archive written by the station from verified blobs, streamed to `docker load`.

Docker 20.10 loads `docker save` tarballs only (not OCI archives), and its loader extracts
the tar it is given. So the engine never receives the media's archive: the station writes a
new one, member by member, from the staged blobs: `<config hex>.json`, one
`<layer digest hex>/layer.tar` per layer and a `manifest.json` without tags (the station
tags the image itself, after checking the loaded ID). Plain ustar headers with short names,
nothing a parser could read two ways. A zstd layer, which Docker 20.10 cannot read, is
decompressed on the way (counted once first, as a tar header needs the size up front).
Nothing is written to disk; memory stays at one chunk.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import os
import tarfile
import threading
from pathlib import Path
from types import TracebackType
from typing import IO

from station.bundle.compression import CHUNK, Compression, Decompressed
from station.bundle.model import ImageInfo
from station.importing.base import ImportFailed

ZSTD_LAYER = "application/vnd.oci.image.layer.v1.tar+zstd"


class _Counting:
    """A pipe as tarfile's "w" mode wants it: `write` and a `tell` that counts."""

    def __init__(self, pipe: IO[bytes]) -> None:
        self.pipe = pipe
        self.offset = 0

    def write(self, data: bytes) -> int:
        self.pipe.write(data)
        self.offset += len(data)
        return len(data)

    def tell(self) -> int:
        return self.offset


def _member(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o644
    info.mtime = 0
    return info


class _ZstdReader(io.RawIOBase):
    """A file object over the decompressed content of a staged zstd layer."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self._file = open(path, "rb")  # noqa: SIM115 - closed in close()
        self._source = Decompressed(self._file.read, Compression.ZSTD, label=path.name,
                                    max_output=1 << 62)

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        return self._source.read(size if size > 0 else CHUNK)

    def close(self) -> None:
        self._file.close()
        super().close()


class CanonicalArchive:
    """Context manager giving a readable stream of the station's docker-archive of `image`."""

    def __init__(self, image: ImageInfo, blobs: Path) -> None:
        self.image = image
        self.blobs = blobs
        self.error: BaseException | None = None
        self._reader: IO[bytes] | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> IO[bytes]:
        read_fd, write_fd = os.pipe()
        with contextlib.suppress(OSError):  # a bigger pipe means fewer switches between threads
            fcntl.fcntl(write_fd, fcntl.F_SETPIPE_SZ, 1 << 20)
        self._reader = os.fdopen(read_fd, "rb")
        self._thread = threading.Thread(
            target=self._produce, args=(write_fd,), name="docker-archive", daemon=True
        )
        self._thread.start()
        return self._reader

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        assert self._reader is not None and self._thread is not None  # noqa: S101
        self._reader.close()  # a writer still blocked on the pipe gets EPIPE and stops
        self._thread.join()
        if self.error is not None:  # the real cause, rather than the engine's "unexpected EOF"
            raise ImportFailed(
                f"cannot read the staged image {self.image.config_digest}: {self.error}",
                hint="staging changed after verification; verify the bundle again",
            ) from self.error

    def _add_layer(self, out: tarfile.TarFile, name: str, digest: str, media_type: str) -> None:
        path = self._blob(digest)
        if media_type != ZSTD_LAYER:
            with open(path, "rb") as data:
                out.addfile(_member(name, path.stat().st_size), data)
            return
        with _ZstdReader(path) as counting:
            size = 0
            while chunk := counting.read(CHUNK):
                size += len(chunk)
        with _ZstdReader(path) as data:
            out.addfile(_member(name, size), data)

    def _blob(self, digest: str) -> Path:
        return self.blobs / digest.removeprefix("sha256:")

    def _produce(self, write_fd: int) -> None:
        image = self.image
        config_name = image.config_digest.removeprefix("sha256:") + ".json"
        layer_names: list[str] = []
        try:
            with (
                os.fdopen(write_fd, "wb") as pipe,
                tarfile.open(fileobj=_Counting(pipe), mode="w",  # type: ignore[call-overload]
                             format=tarfile.USTAR_FORMAT, copybufsize=CHUNK) as out,
            ):
                config = self._blob(image.config_digest)
                with open(config, "rb") as data:
                    out.addfile(_member(config_name, config.stat().st_size), data)
                for layer in image.layers:
                    name = layer.digest.removeprefix("sha256:") + "/layer.tar"
                    if name not in layer_names:
                        self._add_layer(out, name, layer.digest, layer.media_type)
                    layer_names.append(name)
                manifest = json.dumps(
                    [{"Config": config_name, "RepoTags": None, "Layers": layer_names}]
                ).encode()
                out.addfile(_member("manifest.json", len(manifest)), io.BytesIO(manifest))
        except BrokenPipeError:
            pass  # the reader went away (the engine refused, or the import was stopped)
        except (OSError, tarfile.TarError, ValueError, KeyError) as exc:
            self.error = exc
