"""A small tmpfs of a test's own: the real way to fill a disk (needs root)."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def small_tmpfs(where: Path, options: str) -> Iterator[Path]:
    """Mount a tmpfs with `options` (`size=8m`...) at `where`; skip, saying why, if it cannot
    be mounted here; unmount afterwards (lazily: a test may still hold a file open there)."""
    if os.geteuid() != 0:
        print("skipping: mounting a tmpfs needs root")
        pytest.skip("mounting a tmpfs needs root")
    where.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)],
                             capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        reason = f"cannot mount a tmpfs here: {mounted.stderr.strip()}"
        print(f"skipping: {reason}")
        pytest.skip(reason)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=True)
