"""USB media detection against fake hardware: umockdev's /sys, /dev and uevents, with the
project's real pyudev monitor (`station media watch`) running inside the testbed."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import pytest

from station.bundle.reader import open_bundle
from station.media.mounts import existing_mounts
from station.verify import verify_bundle
from station.verify.policy import Policy
from station.verify.trust import TrustStore
from tests.builders import Signer
from tests.real.media_fixtures import attached, bundle_image, missing_loop_tools, run
from tests.real.umockdev import FakeUdev, missing_reason, usb_keyboard, usb_stick, virtio_disk

pytestmark = [
    pytest.mark.real,
    pytest.mark.skipif(missing_reason() is not None, reason=str(missing_reason())),
]

WATCH = [sys.executable, "-m", "station.cli.main", "media", "watch", "--json"]


def test_sticks_are_reported_with_device_info_and_other_disks_ignored() -> None:
    stick, stick_path = usb_stick("sdb", serial="4C530001", sectors=2048 * 64)
    loose, loose_path = usb_stick(
        "sdc", port="1-2", vendor="Kingston", model="DataTraveler 3.0", serial="ABC123",
        fs_type="vfat", label="DROP", uuid="1A2B-3C4D", partitioned=False, sectors=4096,
    )
    internal, _ = virtio_disk("vdb")
    with FakeUdev() as udev:
        udev.add(stick)  # present before the watcher starts
        udev.spawn([*WATCH, "--count", "3"])

        first = udev.child_json()
        assert first == {
            "event": "inserted",
            "device": "/dev/sdb1",
            "bus": "usb",
            "vendor": "SanDisk",
            "model": "Cruzer Blade",
            "serial": "4C530001",
            "size": 2048 * 64 * 512,
            "fs_type": "ext4",
            "label": "TRANSFER",
            "uuid": "3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f",
            "sys_path": stick_path,
        }

        udev.add(internal)  # a non-USB disk with a filesystem: never media
        udev.add(loose)  # a stick without a partition table: the whole disk is the media
        second = udev.child_json()
        assert (second["event"], second["device"], second["sys_path"]) == (
            "inserted", "/dev/sdc", loose_path,
        )
        assert (second["vendor"], second["model"], second["fs_type"], second["label"]) == (
            "Kingston", "DataTraveler 3.0", "vfat", "DROP",
        )

        udev.remove(stick_path)
        third = udev.child_json()
        assert (third["event"], third["device"], third["serial"]) == (
            "removed", "/dev/sdb1", "4C530001",
        )
        assert udev.child_line() is None, "the watcher should stop after --count events"


def test_a_keyboard_plugged_in_is_refused_once_and_an_unknown_filesystem_is_refused() -> None:
    stick, stick_path = usb_stick("sdb")
    keyboard, _ = usb_keyboard()
    odd, _ = usb_stick("sdd", port="1-4", fs_type="ntfs", partitioned=False)
    with FakeUdev() as udev:
        udev.add(stick)
        udev.spawn(WATCH)
        assert udev.child_json()["event"] == "inserted"

        udev.add(keyboard)  # usb device + HID interface + input device: one refusal
        refused = udev.child_json()
        assert refused["event"] == "refused"
        assert "HID" in refused["reason"] and "not storage" in refused["reason"]
        assert refused["vendor"] == "Teensyduino"

        udev.add(odd)
        unsupported = udev.child_json()
        assert unsupported["event"] == "refused"
        assert unsupported["device"] == "/dev/sdd"
        assert "ntfs is not supported" in unsupported["reason"]

        udev.remove(stick_path)
        assert udev.child_json()["event"] == "removed"


def test_hostile_labels_and_descriptors_are_shown_cleaned() -> None:
    # The label would recolour the terminal; the model would flip "txt.exe" on screen.
    stick, _ = usb_stick("sdb", model="Safe", label="x")
    stick = stick.replace(
        "E: ID_MODEL_ENC=Safe", "E: ID_MODEL_ENC=report\\xe2\\x80\\xaetxt.exe"
    ).replace("E: ID_FS_LABEL=x", "E: ID_FS_LABEL_ENC=\\x1b[31mRED\\x0aline")
    with FakeUdev() as udev:
        udev.add(stick)
        udev.spawn([*WATCH, "--count", "1"])
        info = udev.child_json()
        assert info["model"] == "report?txt.exe"
        assert info["label"] == "?[31mRED?line"


def test_a_card_reader_whose_card_is_swapped_reports_removed_then_the_new_card() -> None:
    # A card reader stays plugged in: taking the card out sends "change", not "remove".
    reader, reader_path = usb_stick(
        "sde", port="1-5", vendor="Generic", model="SD Reader", partitioned=False,
        fs_type="vfat", uuid="AAAA-0001", label="CARD1",
    )
    with FakeUdev() as udev:
        udev.add(reader)
        udev.spawn([*WATCH, "--count", "3"])
        assert udev.child_json()["uuid"] == "AAAA-0001"

        udev.change(reader_path, {"A:size": "0"})  # card out
        gone = udev.child_json()
        assert (gone["event"], gone["uuid"]) == ("removed", "AAAA-0001")

        udev.change(reader_path, {  # another card in
            "A:size": "8192", "E:ID_FS_UUID": "BBBB-0002", "E:ID_FS_LABEL": "CARD2",
        })
        new = udev.child_json()
        assert (new["event"], new["uuid"], new["label"]) == ("inserted", "BBBB-0002", "CARD2")
        assert udev.child_line() is None


def test_watch_prints_one_readable_line_per_event() -> None:
    stick, _ = usb_stick("sdb", vendor="SanDisk", model="Cruzer Blade")
    with FakeUdev() as udev:
        udev.add(stick)
        udev.spawn([sys.executable, "-m", "station.cli.main", "media", "watch", "--count", "1"])
        line = udev.child_line()
        assert line is not None
        assert line.split()[:3] == ["inserted", "/dev/sdb1", "usb"]
        assert 'SanDisk Cruzer Blade (serial 4C530001) 64.0 MiB ext4 "TRANSFER"' in line


@pytest.mark.skipif(os.geteuid() != 0, reason="loop devices and mount need root")
@pytest.mark.skipif(bool(missing_loop_tools()), reason=f"missing: {missing_loop_tools()}")
def test_a_fake_stick_over_a_real_loop_device_is_mounted_read_only_then_released(
    tmp_path: Path, signer: Signer
) -> None:
    """The fake USB partition's node is a real loop device: udev says "USB stick", the
    mount helper (run outside the fake world) mounts the real bytes read-only."""
    image = bundle_image(tmp_path, signer)
    before = hashlib.sha256(image.read_bytes()).hexdigest()
    media_dir = tmp_path / "media"
    with attached(image) as device, FakeUdev() as udev:
        stick, stick_path = usb_stick("sdb", devnode=device)
        udev.spawn([*WATCH, "--mount", "--mount-dir", str(media_dir), "--count", "2"])
        udev.add(stick)
        inserted = udev.child_json()
        assert (inserted["event"], inserted["device"]) == ("inserted", device)
        root = Path(inserted["root"])
        assert root == media_dir / Path(device).name
        assert run("blockdev", "--getro", device) == "1"
        (mount,) = existing_mounts(device)
        assert mount.mountpoint == str(root) and "ro" in mount.opts.split(",")

        result = verify_bundle(open_bundle(root), TrustStore.load(signer.trust), Policy())
        assert result.accepted, result.problems

        udev.remove(stick_path)
        assert udev.child_json()["event"] == "removed"
        assert udev.child_line() is None  # --count 2 reached: the watcher stopped
        assert existing_mounts(device) == [], "pulling the stick unmounts it"
        assert not root.exists()
    assert hashlib.sha256(image.read_bytes()).hexdigest() == before


@pytest.mark.skipif(os.geteuid() != 0, reason="loop devices and mount need root")
@pytest.mark.skipif(bool(missing_loop_tools()), reason=f"missing: {missing_loop_tools()}")
def test_pulling_the_stick_mid_verification_aborts_and_keeps_nothing(
    tmp_path: Path, signer: Signer
) -> None:
    home = tmp_path / "home"
    (home / "trust").mkdir(parents=True)
    for key in signer.trust.iterdir():
        (home / "trust" / key.name).write_bytes(key.read_bytes())
    image = bundle_image(tmp_path, signer, payload=8 * 1024 * 1024)
    child = Path(__file__).parent / "umockdev" / "pull_mid_verify.py"
    with attached(image) as device, FakeUdev() as udev:
        stick, stick_path = usb_stick("sdb", devnode=device)
        udev.add(stick)
        udev.spawn([sys.executable, str(child), str(home), str(tmp_path / "media")])
        assert "inserted" in udev.child_json()
        assert "verifying" in udev.child_json(), "hashing started and is held mid-read"

        udev.remove(stick_path)
        removed = udev.child_json()
        assert removed == {"removed": device, "present": False}
        final = udev.child_json()
        assert final["state"] == "aborted"
        assert final["verify"].startswith("Cancelled")
        assert final["staging"] == [], "nothing partial is kept"
        assert udev.child_line() is None
        assert existing_mounts(device) == []

    audit = [json.loads(line) for line in (home / "audit.log").read_text().splitlines()]
    aborts = [r for r in audit if r["event"] == "abort"]
    assert [r.get("reason") for r in aborts] == ["the media was removed"]
    assert not any(r["event"] == "verification" for r in audit)


WATCHER_CHILD = Path(__file__).with_name("umockdev") / "watcher_child.py"


def test_a_broken_monitor_is_reported_and_the_watcher_restarts_and_catches_up() -> None:
    first, first_path = usb_stick("sdb")
    second, _ = usb_stick("sdc", port="1-2", serial="SECOND")
    third, _ = usb_stick("sdd", port="1-3", serial="THIRD")
    with FakeUdev() as udev:
        udev.add(first)
        udev.spawn([sys.executable, str(WATCHER_CHILD), "6"])
        assert udev.child_json()["serial"] == "4C530001"
        assert udev.child_json() == {"event": "socket-broken"}  # the child broke its socket

        udev.add(second)  # this uevent wakes the monitor, whose receive now fails
        failed = udev.child_json()
        assert failed["event"] == "watcher-failed"
        assert "Errno" in failed["reason"] and failed["failures"] == 1
        assert failed["retry_in"] == 1.0
        udev.remove(first_path)  # while the watcher is down: no uevent reaches anyone

        restarted = udev.child_json()
        assert restarted == {"event": "watcher-restarted", "failures": 1}
        caught_up = {(e["event"], e["serial"]) for e in (udev.child_json(), udev.child_json())}
        assert caught_up == {("removed", "4C530001"), ("inserted", "SECOND")}

        udev.add(third)  # the new monitor hears hot-plug events again
        last = udev.child_json()
        assert (last["event"], last["serial"]) == ("inserted", "THIRD")
        assert udev.child_line() is None
