"""Kiosk mode refuses to start on a home that could never finish a transfer or be left:
no trusted key, or no enabled admin account. Exit 2 with the command that fixes it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from station.approval import OperatorStore, Role
from station.demo import DemoHome

KIOSK = Path(sys.executable).with_name("station-kiosk")


def _kiosk(home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(KIOSK), "--home", str(home), "--media-dir", str(home / "m")],
                          capture_output=True, text=True, timeout=60, check=False)


def test_without_a_trusted_key_the_kiosk_does_not_start(tmp_path: Path) -> None:
    home = tmp_path / "home"
    result = _kiosk(home)
    assert result.returncode == 2
    assert "holds no trusted key" in result.stderr
    assert f"station --home {home} keys list" in result.stderr
    assert "Traceback" not in result.stderr


def test_without_an_admin_account_the_kiosk_does_not_start(
    tmp_path: Path, demo: DemoHome
) -> None:
    home = tmp_path / "home"
    (home / "trust").mkdir(parents=True)
    shutil.copy(demo.home / "trust" / "demo-release.pub", home / "trust")
    operators = OperatorStore(home / "operators.toml")
    operators.add("alice", Role.OPERATOR, "alice-pin")
    operators.add("root_", Role.ADMIN, "admin-pin")
    operators.set_enabled("root_", False)
    result = _kiosk(home)
    assert result.returncode == 2
    assert "no enabled admin account" in result.stderr
    assert f"station --home {home} operators add NAME --role admin" in result.stderr
