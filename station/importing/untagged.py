"""A docker-archive streamed to the engine without its tags, so nothing is named unverified.

`docker load` applies the `RepoTags` of manifest.json as soon as it has loaded an image, before
the station has compared the image ID with the verified config digest. So the staged archive is
re-streamed through a pipe: every member byte for byte, except manifest.json without
`RepoTags` and without the old `repositories` file. The station tags the image itself, after the
check. Nothing is written to disk and memory stays at one chunk.
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import io
import json
import os
import tarfile
import threading
from pathlib import Path
from types import TracebackType
from typing import IO

from station.importing.base import ImportFailed

CHUNK = 1024 * 1024


class UntaggedArchive:
    """Context manager giving a readable stream of the archive with its tags removed."""

    def __init__(self, archive: Path) -> None:
        self.archive = archive
        self.error: BaseException | None = None
        self._reader: IO[bytes] | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> IO[bytes]:
        read_fd, write_fd = os.pipe()
        with contextlib.suppress(OSError):  # a bigger pipe means fewer switches between threads
            fcntl.fcntl(write_fd, fcntl.F_SETPIPE_SZ, CHUNK)
        self._reader = os.fdopen(read_fd, "rb")
        self._thread = threading.Thread(
            target=self._produce, args=(write_fd,), name="untagged-archive", daemon=True
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
                f"cannot read the staged archive {self.archive.name}: {self.error}",
                hint="staging changed after verification; verify the bundle again",
            ) from self.error

    def _produce(self, write_fd: int) -> None:
        try:
            with (
                os.fdopen(write_fd, "wb") as pipe,
                tarfile.open(self.archive, mode="r:*") as source,
                tarfile.open(
                    fileobj=_Sequential(pipe),  # type: ignore[call-overload]
                    mode="w",
                    format=tarfile.PAX_FORMAT,
                    copybufsize=CHUNK,
                ) as out,
            ):
                for member in source:
                    if member.name == "repositories":
                        continue
                    if member.name == "manifest.json" and member.isreg():
                        data = _without_tags(source, member)
                        info = copy.copy(member)
                        info.size = len(data)
                        out.addfile(info, io.BytesIO(data))
                    elif member.isreg():
                        out.addfile(member, source.extractfile(member))
                    else:
                        out.addfile(member)
        except BrokenPipeError:
            pass  # the reader went away (the engine refused, or the import was stopped)
        except (OSError, EOFError, tarfile.TarError, ValueError) as exc:
            self.error = exc


class _Sequential:
    """A pipe as tarfile's "w" mode wants it: `write` and a `tell` that counts.

    (The "w|" stream mode would do without, but re-slices its buffer for every 10 KiB record,
    which is slow for 1 MiB writes.)
    """

    def __init__(self, pipe: IO[bytes]) -> None:
        self.pipe = pipe
        self.offset = 0

    def write(self, data: bytes) -> int:
        self.pipe.write(data)
        self.offset += len(data)
        return len(data)

    def tell(self) -> int:
        return self.offset


def _without_tags(source: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    stream = source.extractfile(member)
    if stream is None:
        raise ValueError("manifest.json cannot be read")
    entries = json.loads(stream.read())
    if not isinstance(entries, list):
        raise ValueError("manifest.json is not a list")
    for entry in entries:
        if isinstance(entry, dict):
            entry["RepoTags"] = None
    return json.dumps(entries).encode()
