"""Nothing a killed station leaves behind stays: half-delivered files and verify folders."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from station.station import Station


def test_start_up_removes_half_delivered_files_and_folders_of_dead_verifies(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    Station.open(home)
    half = home / "received" / ("ab" * 32) / "files" / ".partial-x1y2"
    half.parent.mkdir(parents=True)
    half.write_bytes(b"\0" * 4096)
    delivered = half.with_name("notes.txt")
    delivered.write_text("kept\n")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    orphan = home / "scratch" / f"{dead}-verify-abc"
    orphan.mkdir(parents=True)
    (orphan / "blob").write_bytes(b"x")
    mine = home / "scratch" / f"{os.getpid()}-verify-def"
    mine.mkdir()

    Station.open(home)

    assert not half.exists() and delivered.read_text() == "kept\n"
    assert not orphan.exists()
    assert mine.exists()  # a living process still works in it
    started = [r for r in Station.open(home).audit.records() if r["event"] == "station-started"]
    assert started[1]["staging_cleaned"] == 2
