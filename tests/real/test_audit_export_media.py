"""The audit export written onto a real stick (an ext4 image on a loop device): released
from the kiosk's read-only mount, mounted read-write by the helper's own operation, written,
synced, unmounted, set read-only again, audited; the file verifies offline. The helper
writes nothing but an export signed by this station."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from station.audit_media import export_to_media
from station.cli import main as cli
from station.errors import MediaError
from station.media.events import DeviceInfo
from station.media.mounts import Mounter, existing_mounts
from station.station import Station
from tests.builders import Signer
from tests.identity import keyed_home
from tests.real.media_fixtures import attached, missing_loop_tools, run

pytestmark = [
    pytest.mark.real,
    pytest.mark.skipif(bool(missing_loop_tools()), reason=f"missing: {missing_loop_tools()}"),
    pytest.mark.skipif(os.geteuid() != 0, reason="loop devices and mount need root"),
]


def test_export_to_a_stick_the_kiosk_had_mounted_read_only(
    tmp_path: Path, signer: Signer, monkeypatch: pytest.MonkeyPatch
) -> None:
    keyed = keyed_home(tmp_path, signer)
    station = Station.open(keyed.home)
    station.audit.append("login", actor="admin", role="admin", where="kiosk")
    image = tmp_path / "export.img"
    run("mkfs.ext4", "-q", "-F", "-L", "EXPORT", str(image), "8M")
    media_base, export_base = tmp_path / "media", tmp_path / "export"
    helper = [sys.executable, "-I", "-m", "station.media.helper", "--base", str(media_base),
              "--export-base", str(export_base), "--signer-dir", str(keyed.signer_dir)]
    with attached(image) as device:
        info = DeviceInfo(device=device, bus="usb", fs_type="ext4", label="EXPORT")
        Mounter(base=media_base).open(info)  # the kiosk saw the stick and mounted it ro
        assert run("blockdev", "--getro", device) == "1"
        assert station.signer is not None
        name = export_to_media(
            info, log=station.audit, home=keyed.home, signer=station.signer, admin="admin",
            since=date(2000, 1, 1), signer_dir=keyed.signer_dir, helper=helper,
            media_base=media_base,
        )
        assert not (export_base / Path(device).name).exists()  # no mount point left
        assert existing_mounts(device) == []  # unmounted again...
        assert run("blockdev", "--getro", device) == "1"  # ...and read-only again
        check = tmp_path / "check"
        check.mkdir()
        run("mount", "-o", "ro,noload", device, str(check))
        try:
            exported = check / name
            assert exported.is_file()
            monkeypatch.setattr(cli, "COMMAND_MODULES", {"audit": "station.cli.audit"})
            assert cli.main(["audit", "verify-export", str(exported),
                             "--station-key", str(keyed.public)]) == 0
            data = exported.read_bytes()
        finally:
            run("umount", str(check))
    record = station.audit.intact_records()[-1]
    assert record["event"] == "audit-export" and record["actor"] == "admin"
    assert record["sha256"] == hashlib.sha256(data).hexdigest() and record["file"] == name


def test_a_stick_mounted_elsewhere_is_refused_and_the_refusal_audited(
    tmp_path: Path, signer: Signer
) -> None:
    keyed = keyed_home(tmp_path, signer)
    station = Station.open(keyed.home)
    image = tmp_path / "export.img"
    run("mkfs.ext4", "-q", "-F", str(image), "8M")
    with attached(image) as device:
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        run("mount", "-o", "ro,noload", device, str(elsewhere))
        try:
            assert station.signer is not None
            with pytest.raises(MediaError, match="is mounted at"):
                export_to_media(
                    DeviceInfo(device=device, fs_type="ext4"), log=station.audit,
                    home=keyed.home, signer=station.signer, admin="admin",
                    since=date(2000, 1, 1), media_base=tmp_path / "media",
                    helper=[sys.executable, "-I", "-m", "station.media.helper",
                            "--export-base", str(tmp_path / "export")],
                )
        finally:
            subprocess.run(["umount", str(elsewhere)], check=False)
    failed = station.audit.intact_records()[-1]
    assert failed["event"] == "audit-export-failed" and "mounted at" in failed["reason"]


def test_the_helper_writes_only_a_signed_export(tmp_path: Path, signer: Signer) -> None:
    keyed = keyed_home(tmp_path, signer)
    image = tmp_path / "export.img"
    run("mkfs.ext4", "-q", "-F", str(image), "8M")
    with attached(image) as device:
        result = subprocess.run(
            [sys.executable, "-I", "-m", "station.media.helper", "--export-base",
             str(tmp_path / "export"), "--signer-dir", str(keyed.signer_dir),
             "write-export", device, "ext4"],
            input=b'{"payloadType": "text/plain", "payload": "aGk=", "signatures": '
                  b'[{"keyid": "", "sig": "AAAA"}]}',
            capture_output=True, check=False,
        )
        assert result.returncode == 1
        assert b"only an audit export signed by this station" in result.stderr
        assert existing_mounts(device) == []
