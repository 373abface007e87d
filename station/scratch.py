"""Private folders for work that verifies without importing (`station verify`, `station scan`).

They live in `<home>/scratch/`, not in `staging/`: a transfer that takes the home sweeps
staging, and must not sweep the folder of a `station verify` running beside it. Each folder
is named after the process that owns it; `sweep` removes those whose process is gone (a
verify killed mid-run), so nothing is left behind.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psutil

from station.errors import StationError

FOLDER = "scratch"


@contextlib.contextmanager
def scratch_folder(home: Path) -> Iterator[Path]:
    """A folder of this process's own under `<home>/scratch`, removed afterwards."""
    parent = home / FOLDER
    try:
        parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        folder = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=parent))
    except OSError as exc:
        raise StationError(f"cannot make a work folder in {parent}: {exc.strerror or exc}",
                           hint="run as the station user, or pass --home DIR") from exc
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def sweep(home: Path) -> int:
    """Remove scratch folders whose process no longer runs; returns how many."""
    parent = home / FOLDER
    if not parent.is_dir():
        return 0
    removed = 0
    for child in parent.iterdir():
        owner = child.name.partition("-")[0]
        if owner.isdigit() and psutil.pid_exists(int(owner)) and int(owner) != 0:
            continue
        shutil.rmtree(child, ignore_errors=True) if child.is_dir() else child.unlink()
        removed += 1
    return removed


def sweep_partials(home: Path) -> int:
    """Remove half-written files (`.partial-*`) a killed import left in `received/`."""
    received = home / "received"
    if not received.is_dir():
        return 0
    removed = 0
    for leftover in received.rglob(".partial-*"):
        if leftover.is_file() and not leftover.is_symlink():
            leftover.unlink(missing_ok=True)
            removed += 1
    return removed
