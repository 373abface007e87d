"""Plain files, SBOMs and scan reports go to `<home>/received/<bundle digest hex>/`.

Whatever the image target, the non-image items of a bundle are delivered the same way: moved
(renamed) from staging, where verification wrote them while hashing them, into a folder named
after the bundle digest. A rename on the same file system costs no second copy and no second
read; a half-delivered file never appears under its real name. Only when `received/` lies on
another file system is a file copied, to a temporary name, checked against its verified
sha256 and renamed. A retry skips files already delivered.
"""

from __future__ import annotations

import errno
import hashlib
import os
import tempfile
import threading
from pathlib import Path

from station.atomic import fsync_dir
from station.importing.base import (
    DeliveredFile,
    ImportFailed,
    existing_ancestor,
    require_free_space,
)
from station.importing.layout import CHUNK, TEMP_PREFIX, BytesCallback, write_error
from station.progress import check_cancel
from station.verify.staged import StagedBundle


def received_folder(home: Path, bundle_digest: str) -> Path:
    return home / "received" / bundle_digest.partition(":")[2]


def _same_file_system(a: Path, b: Path) -> bool:
    try:
        return existing_ancestor(a).stat().st_dev == existing_ancestor(b).stat().st_dev
    except OSError:
        return False


def delivery_space(staged: StagedBundle, home: Path) -> None:
    """Fail early when the files must be copied (another file system) and do not fit."""
    if not staged.files or staged.root is None or _same_file_system(staged.root, home):
        return
    require_free_space(home, sum(f.size for f in staged.files), "the files")


def deliver_files(
    staged: StagedBundle,
    home: Path,
    *,
    on_bytes: BytesCallback | None = None,
    cancel: threading.Event | None = None,
) -> tuple[DeliveredFile, ...]:
    """Move every verified file into the received folder; return where each one is."""
    folder = received_folder(home, staged.digest)
    delivered: list[DeliveredFile] = []
    if staged.files and staged.files_root is None:
        raise ImportFailed("the bundle was verified without staging; verify it again")
    for staged_file in staged.files:
        check_cancel(cancel, "import stopped")
        assert staged.files_root is not None  # noqa: S101
        source = staged.files_root / staged_file.path
        target = folder / staged_file.path
        delivered.append(DeliveredFile(staged_file.path, staged_file.sha256, str(target)))
        if not source.exists() and target.is_file():
            pass  # moved by an earlier run of this import
        else:
            _move(source, target, staged_file.sha256, cancel)
        if on_bytes is not None:
            on_bytes(staged_file.size)
    return tuple(delivered)


def _move(source: Path, target: Path, sha256: str, cancel: threading.Event | None) -> None:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, target)
        fsync_dir(target.parent)
    except FileNotFoundError as exc:
        raise ImportFailed(
            f"the staged copy of {target.name} is gone",
            hint="staging was cleaned; verify the bundle again",
        ) from exc
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise write_error(target, exc) from exc
        _copy_checked(source, target, sha256, cancel)


def _copy_checked(source: Path, target: Path, expected: str, cancel: threading.Event | None
                  ) -> None:
    """Across file systems: copy to a temporary name, check the sha256, rename."""
    try:
        fd, temp_name = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=target.parent)
    except OSError as exc:
        raise write_error(target, exc) from exc
    try:
        hasher = hashlib.sha256()
        with open(source, "rb") as reader, os.fdopen(fd, "wb") as out:
            while chunk := reader.read(CHUNK):
                check_cancel(cancel, "import stopped")
                hasher.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if hasher.hexdigest() != expected.removeprefix("sha256:"):
            raise ImportFailed(
                f"the staged copy of {target.name} does not match its verified sha256",
                hint="staging changed after verification; verify the bundle again",
            )
        os.replace(temp_name, target)
        fsync_dir(target.parent)
    except OSError as exc:
        raise write_error(target, exc) from exc
    finally:
        Path(temp_name).unlink(missing_ok=True)
