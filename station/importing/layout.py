"""An OCI image layout folder written safely: blobs by digest, index replaced atomically.

Used for the embedded store and for the one-image layouts that feed skopeo. Every blob is
written to a temporary file in the same folder while its sha256 is computed, fsynced, checked
against the digest it must have and only then renamed into place, so a blob under its final
name is always complete and correct. A blob already present is never copied again.
`index.json` is rewritten to a temporary file and renamed, so it is never half-written.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from station.atomic import fsync_dir, fsync_file, replace_file
from station.errors import StationError
from station.importing.base import ImportFailed
from station.progress import check_cancel

CHUNK = 1024 * 1024
REF_NAME = "org.opencontainers.image.ref.name"
INDEX_MEDIA_TYPE = "application/vnd.oci.image.index.v1+json"
TEMP_PREFIX = ".partial-"

BytesCallback = Callable[[int], None]


class StoreFull(ImportFailed):
    """The filesystem of the layout ran out of space while writing."""


def write_error(path: Path, exc: OSError) -> StationError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return StoreFull(
            f"no space left in {path.parent} while writing {path.name}",
            hint="free some space there and import again; finished images are kept",
        )
    return ImportFailed(f"cannot write {path}: {exc.strerror or exc}")


class OciLayout:
    """One OCI image layout folder (`oci-layout`, `index.json`, `blobs/sha256/`)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def index_path(self) -> Path:
        return self.root / "index.json"

    def blob_path(self, digest: str) -> Path:
        algorithm, _, hexdigest = digest.partition(":")
        if algorithm != "sha256" or len(hexdigest) != 64 or not all(
            c in "0123456789abcdef" for c in hexdigest
        ):
            raise ImportFailed(f"not a sha256 digest: {digest!r}")
        return self.root / "blobs" / "sha256" / hexdigest

    def has_blob(self, digest: str) -> bool:
        return self.blob_path(digest).is_file()

    def create(self) -> None:
        """Make the folder a valid, empty layout when it is not one yet."""
        try:
            (self.root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
            marker = self.root / "oci-layout"
            if not marker.exists():
                self._replace(marker, b'{"imageLayoutVersion":"1.0.0"}')
            if not self.index_path.exists():
                self._replace(self.index_path, self._index_bytes([]))
        except OSError as exc:
            raise write_error(self.root / "oci-layout", exc) from exc

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the layout for one writer; leftovers of a killed writer are removed."""
        self.create()
        lock_path = self.root / ".lock"
        with open(lock_path, "a+b") as handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                raise ImportFailed(
                    f"another import is writing to {self.root}",
                    hint="wait for it to finish, then import again",
                ) from exc
            self._remove_partials()
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def _remove_partials(self) -> None:
        for folder in (self.root, self.root / "blobs" / "sha256"):
            for leftover in folder.glob(TEMP_PREFIX + "*"):
                leftover.unlink(missing_ok=True)

    def write_blob(
        self,
        source: IO[bytes],
        *,
        digest: str | None,
        size: int | None,
        what: str,
        on_bytes: BytesCallback | None = None,
        cancel: threading.Event | None = None,
        check: Callable[[str, bytes], None] | None = None,
    ) -> tuple[str, int]:
        """Copy `source` into a blob; return (digest, size).

        `digest` is what the bytes must hash to (None when only known afterwards, then `check`
        gets the computed digest and the first bytes to accept or refuse them).
        """
        folder = self.root / "blobs" / "sha256"
        hasher = hashlib.sha256()
        written = 0
        head = b""
        fd, temp_name = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=folder)
        temp = Path(temp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                while True:
                    check_cancel(cancel, "import stopped")
                    chunk = source.read(CHUNK)
                    if not chunk:
                        break
                    if not head:
                        head = chunk[:16]
                    hasher.update(chunk)
                    try:
                        out.write(chunk)
                    except OSError as exc:
                        raise write_error(folder / what, exc) from exc
                    written += len(chunk)
                    if size is not None and written > size:
                        break
                    if on_bytes is not None:
                        on_bytes(len(chunk))
                try:
                    out.flush()
                    os.fsync(out.fileno())
                except OSError as exc:
                    raise write_error(folder / what, exc) from exc
            actual = "sha256:" + hasher.hexdigest()
            if size is not None and written != size:
                raise ImportFailed(
                    f"{what}: {written} bytes in staging where {size} were verified",
                    hint="the staged copy changed after verification; verify the bundle again",
                )
            if digest is not None and actual != digest:
                raise ImportFailed(
                    f"{what}: its content hashes to {actual}, not {digest}",
                    hint="the image is inconsistent or staging changed; verify the bundle again",
                )
            if check is not None:
                check(actual, head)
            final = self.blob_path(actual)
            os.replace(temp, final)
            fsync_dir(folder)
            return actual, written
        except OSError as exc:
            raise write_error(folder / what, exc) from exc
        finally:
            temp.unlink(missing_ok=True)

    def link_blob(
        self,
        source: Path,
        digest: str,
        *,
        size: int,
        synced: bool = True,
        cancel: threading.Event | None = None,
    ) -> int:
        """Put the staged blob `source` (named by its verified digest) into the layout.

        A hard link on the same file system: no byte is copied or read again; a `source`
        not `synced` yet (staged for a streaming target) is fsynced first, so the name never
        outlives its bytes in a power cut. Across file systems the blob is copied and its
        digest checked. Returns the bytes copied (0 for a link or a blob already present).
        """
        final = self.blob_path(digest)
        if final.is_file():
            return 0
        try:
            if not synced:
                fsync_file(source)
            os.link(source, final)
            return 0
        except FileExistsError:
            return 0
        except FileNotFoundError as exc:
            raise ImportFailed(
                f"the staged blob {digest} is gone",
                hint="staging was cleaned; verify the bundle again",
            ) from exc
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
                raise write_error(final, exc) from exc
        with open(source, "rb") as stream:
            _, written = self.write_blob(stream, digest=digest, size=size, what=digest,
                                         cancel=cancel)
        return written

    def sync_blobs(self) -> None:
        """Make the blob folder's new names durable before the index names them."""
        fsync_dir(self.root / "blobs" / "sha256")

    def write_bytes_blob(self, data: bytes, what: str) -> str:
        """Store small bytes (a manifest) as a blob, unless present; return the digest."""
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if not self.has_blob(digest):
            path = self.blob_path(digest)
            try:
                self._replace(path, data)
            except OSError as exc:
                raise write_error(path, exc) from exc
        return digest

    def read_index(self) -> list[dict[str, Any]]:
        """The descriptors of `index.json`; a layout that is not ours is refused."""
        try:
            data = json.loads(self.index_path.read_bytes())
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            raise ImportFailed(
                f"cannot read {self.index_path}: {exc}",
                hint="the store index is damaged; restore it from backup or move the folder",
            ) from exc
        manifests = data.get("manifests") if isinstance(data, dict) else None
        if not isinstance(manifests, list) or not all(isinstance(m, dict) for m in manifests):
            raise ImportFailed(f"{self.index_path} is not an OCI image index")
        return manifests

    def add_to_index(self, descriptor: Mapping[str, Any], references: Sequence[str]) -> None:
        """Point each reference at the manifest `descriptor`, in one atomic replace.

        A reference that pointed elsewhere moves (as a tag does); an unnamed image is listed
        once by digest.
        """
        manifests = self.read_index()
        names = set(references)
        kept = [
            entry
            for entry in manifests
            if entry.get("annotations", {}).get(REF_NAME) not in names
            and not (
                not references
                and entry.get("digest") == descriptor["digest"]
                and REF_NAME not in entry.get("annotations", {})
            )
        ]
        base = {k: descriptor[k] for k in ("mediaType", "digest", "size")}
        if references:
            kept.extend({**base, "annotations": {REF_NAME: ref}} for ref in references)
        else:
            kept.append(base)
        try:
            self._replace(self.index_path, self._index_bytes(kept))
        except OSError as exc:
            raise write_error(self.index_path, exc) from exc

    @staticmethod
    def _index_bytes(manifests: list[dict[str, Any]]) -> bytes:
        index = {"schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE, "manifests": manifests}
        return json.dumps(index, indent=2).encode() + b"\n"

    @staticmethod
    def _replace(path: Path, data: bytes) -> None:
        replace_file(path, data, prefix=TEMP_PREFIX)
