"""`station media watch`: one line or one JSON object per event, until told to stop."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

WATCH = [sys.executable, "-m", "station.cli.main", "media", "watch"]


def test_watch_json_prints_each_folder_event_and_stops_after_count(tmp_path: Path) -> None:
    (tmp_path / "stick-a").mkdir()
    proc = subprocess.Popen(
        [*WATCH, "--folder", str(tmp_path), "--json", "--count", "2"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    first = json.loads(proc.stdout.readline())
    assert first["event"] == "inserted" and first["device"] == str(tmp_path / "stick-a")
    assert first["bus"] == "folder" and first["root"] == str(tmp_path / "stick-a")
    (tmp_path / "stick-a").rmdir()
    second = json.loads(proc.stdout.readline())
    assert second["event"] == "removed"
    assert proc.wait(timeout=10) == 0


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_watch_exits_0_on_ctrl_c_or_sigterm(tmp_path: Path, signum: int) -> None:
    (tmp_path / "demo").mkdir()
    proc = subprocess.Popen([*WATCH, "--folder", str(tmp_path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.split()[:3] == ["inserted", str(tmp_path / "demo"), "folder"]
    started = time.monotonic()
    proc.send_signal(signum)
    assert proc.wait(timeout=10) == 0
    assert time.monotonic() - started < 2


def test_watch_usage_errors_exit_2(tmp_path: Path) -> None:
    bad_count = subprocess.run([*WATCH, "--count", "0"], capture_output=True, text=True)
    assert bad_count.returncode == 2 and "--count must be at least 1" in bad_count.stderr
    missing = subprocess.run(
        [*WATCH, "--folder", str(tmp_path / "nope")], capture_output=True, text=True
    )
    assert missing.returncode == 2 and "not a folder" in missing.stderr
