"""Plain files, SBOMs and scan reports go to `<home>/received/<bundle digest hex>/`.

Whatever the image target, the non-image items of a bundle are delivered the same way: copied
from staging (never the media) into a folder named after the bundle digest, each file written
to a temporary name, checked against its verified sha256 and renamed, so a half-copied file
never appears under its real name and a retry skips files already delivered.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from pathlib import Path

from station.bundle.model import Item, ItemKind
from station.importing.base import DeliveredFile, ImportFailed, StagedBundle
from station.importing.layout import CHUNK, TEMP_PREFIX, BytesCallback, write_error
from station.progress import check_cancel

FILE_KINDS = (ItemKind.FILE, ItemKind.SBOM, ItemKind.SCAN_REPORT)


def file_items(staged: StagedBundle) -> list[Item]:
    """The items that are delivered as files rather than imported as images."""
    return [item for item in staged.items if item.kind in FILE_KINDS]


def received_folder(home: Path, bundle_digest: str) -> Path:
    return home / "received" / bundle_digest.partition(":")[2]


def deliver_files(
    staged: StagedBundle,
    home: Path,
    *,
    on_bytes: BytesCallback | None = None,
    cancel: threading.Event | None = None,
) -> tuple[DeliveredFile, ...]:
    """Copy every file item's entries into the received folder; return what is there."""
    folder = received_folder(home, staged.digest)
    delivered: list[DeliveredFile] = []
    for item in file_items(staged):
        for entry in item.entries:
            target = folder / entry.path
            delivered.append(DeliveredFile(entry.path, entry.sha256, str(target)))
            if target.is_file() and _sha256(target) == entry.sha256.removeprefix("sha256:"):
                if on_bytes is not None:
                    on_bytes(target.stat().st_size)
                continue
            _copy_checked(staged.root / entry.path, target, entry.sha256, on_bytes, cancel)
    return tuple(delivered)


def _sha256(path: Path) -> str:
    hasher = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            hasher.update(chunk)
    return hasher.hexdigest()


def _copy_checked(
    source: Path,
    target: Path,
    expected: str,
    on_bytes: BytesCallback | None,
    cancel: threading.Event | None,
) -> None:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp_name = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=target.parent)
    except OSError as exc:
        raise write_error(target, exc) from exc
    try:
        hasher = hashlib.sha256()
        try:
            reader = open(source, "rb")  # noqa: SIM115
        except OSError as exc:
            raise ImportFailed(
                f"cannot read the staged file {source}: {exc.strerror}",
                hint="staging was cleaned or changed; verify the bundle again",
            ) from exc
        with reader, os.fdopen(fd, "wb") as out:
            while chunk := reader.read(CHUNK):
                check_cancel(cancel, "import stopped")
                hasher.update(chunk)
                out.write(chunk)
                if on_bytes is not None:
                    on_bytes(len(chunk))
            out.flush()
            os.fsync(out.fileno())
        if hasher.hexdigest() != expected.removeprefix("sha256:"):
            raise ImportFailed(
                f"the staged copy of {target.name} does not match its verified sha256",
                hint="staging changed after verification; verify the bundle again",
            )
        os.replace(temp_name, target)
    except OSError as exc:
        raise write_error(target, exc) from exc
    finally:
        Path(temp_name).unlink(missing_ok=True)
