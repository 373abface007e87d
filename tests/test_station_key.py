"""`station keys station-init`: the station's own key, private part root's only."""

from __future__ import annotations

import hashlib
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from station.cli import main as cli


def test_station_init_makes_the_key_once_and_prints_its_fingerprint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home, signer_dir = tmp_path / "home", tmp_path / "signer"
    argv = ["--home", str(home), "keys", "station-init", "--signer-dir", str(signer_dir)]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    key = signer_dir / "station.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and key.stat().st_uid == 0
    assert stat.S_IMODE(signer_dir.stat().st_mode) == 0o755
    public = home / "station.pub"
    assert public.read_text().startswith("-----BEGIN PUBLIC KEY-----")
    printed = out.split("fingerprint:")[1].strip().replace(" ", "")
    if shutil.which("openssl"):
        der = subprocess.run(
            ["openssl", "pkey", "-pubin", "-in", str(public), "-outform", "DER"],
            capture_output=True, check=True,
        ).stdout
        assert printed == hashlib.sha256(der).hexdigest()
    before = key.read_bytes()
    public.unlink()
    assert cli.main(argv) == 0  # again: the key is kept, station.pub written again
    assert "kept" in capsys.readouterr().out
    assert key.read_bytes() == before and public.exists()
