"""The kiosk app with real USB detection: a fake stick (umockdev) over a real loop device.

The app runs headless inside the umockdev testbed (tests/real/umockdev/kiosk_child.py) with
the real `UdevMediaSource` and `Mounter`; this test plugs the stick in and pulls it out
through the testbed, as an operator would, and checks what the station kept afterwards.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from station.media.mounts import existing_mounts
from tests.builders import Signer
from tests.real.media_fixtures import attached, bundle_image, missing_loop_tools
from tests.real.umockdev import FakeUdev, missing_reason, usb_stick

CHILD = Path(__file__).parent / "umockdev" / "kiosk_child.py"


def _why_not() -> str | None:
    if missing_reason() is not None:
        return missing_reason()
    if os.geteuid() != 0:
        return "loop devices and mount need root"
    if missing_loop_tools():
        return f"missing: {', '.join(missing_loop_tools())}"
    return None


@pytest.fixture
def can_run() -> None:
    reason = _why_not()
    if reason is not None:
        print(f"skipping: {reason}")
        pytest.skip(reason)


@pytest.mark.real
@pytest.mark.usefixtures("can_run")
def test_kiosk_shows_an_inserted_stick_and_aborts_when_it_is_pulled_mid_verification(
    tmp_path: Path, signer: Signer
) -> None:
    home = tmp_path / "home"
    shutil.copytree(signer.trust, home / "trust")
    image = bundle_image(tmp_path, signer, payload=4 * 1024 * 1024)
    before = hashlib.sha256(image.read_bytes()).hexdigest()
    media_dir = tmp_path / "media"
    with attached(image) as device, FakeUdev() as udev:
        stick, stick_path = usb_stick("sdb", devnode=device)
        udev.spawn([sys.executable, str(CHILD), str(home), str(media_dir)])

        def child(key: str) -> Any:
            """The child's next report, which must be `key` (else show its traceback)."""
            doc = udev.child_json(timeout=25)
            assert key in doc, doc.get("error", doc)
            return doc[key]

        assert child("ready") == "WaitingScreen"
        udev.add(stick)  # plugged in while the kiosk waits
        contents = child("contents")
        labels = contents["labels"]
        assert any(label.startswith("docs/readme.txt") for label in labels)
        assert any(label.startswith("payload.bin") for label in labels)
        assert any(label.startswith("registry.local/app:1.0  ") for label in labels), labels
        assert contents["media"] == 'Media: SanDisk Cruzer Blade (serial 4C530001) 64.0 MiB ' \
            'ext4 "TRANSFER"'
        (mount,) = existing_mounts(device)
        assert "ro" in mount.opts.split(",") and Path(mount.mountpoint).parent == media_dir

        held = child("verifying")
        assert held["done"] < held["total"], "the stick is pulled while files are being read"
        udev.remove(stick_path)
        aborted = child("aborted")
        assert "the media was removed during verification" in str(aborted["text"])
        assert "Nothing from this media was imported" in str(aborted["text"])
        assert aborted["state"] == "aborted"
        assert aborted["verification"] is False, "no verdict from a half-read stick"
        assert aborted["held_until_aborted"] is True, "the app aborted on the removal"
        assert aborted["verify_ended"] == "Cancelled", "hashing stopped instead of finishing"
        assert udev.child_line() is None
        assert existing_mounts(device) == [], "pulling the stick unmounts it"

    assert list((home / "staging").iterdir()) == [], "nothing half-copied stays in staging"
    audit = [json.loads(line) for line in (home / "audit.log").read_text().splitlines()]
    aborts = [r for r in audit if r["event"] == "abort"]
    assert [(r["reason"], r["state"]) for r in aborts] == [
        ("the media was removed during verification", "verifying")
    ]
    assert not any(r["event"] == "verification" for r in audit)
    assert hashlib.sha256(image.read_bytes()).hexdigest() == before
