"""Media events as operators and scripts see them: cleaned text, one line, one JSON object."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from station.media.events import (
    DeviceInfo,
    MediaInserted,
    MediaRef,
    MediaRefused,
    MediaRemoved,
    clean_text,
    event_line,
    event_to_json,
)

STICK = DeviceInfo(
    device="/dev/sdb1",
    bus="usb",
    vendor="SanDisk",
    model="Cruzer Blade",
    serial="4C530001",
    size=15 * 1024**3,
    fs_type="ext4",
    label="TRANSFER",
    uuid="3f1c",
    sys_path="/sys/devices/x/sdb1",
)


def test_device_strings_lose_terminal_escapes_and_bidi_overrides() -> None:
    # A label that would recolour the terminal, or show "exe.txt" as "txt.exe".
    assert clean_text("\x1b[31mRED\x1b[0m") == "?[31mRED?[0m"
    assert clean_text("report\u202etxt.exe") == "report?txt.exe"
    assert clean_text("two\nlines\x00") == "two?lines?"
    assert clean_text("Cruzer\\x20Blade") == "Cruzer Blade"
    assert clean_text(b"caf\xc3\xa9") == "café"
    assert len(clean_text("A" * 500)) == 64


def test_one_line_per_event_names_the_kind_device_and_what_it_is() -> None:
    line = event_line(MediaInserted(STICK))
    assert line.split()[:3] == ["inserted", "/dev/sdb1", "usb"]
    assert line.endswith('SanDisk Cruzer Blade (serial 4C530001) 15.0 GiB ext4 "TRANSFER"')
    refused = event_line(MediaRefused(DeviceInfo(device="", bus="usb"), "USB keyboard"))
    assert refused.startswith("refused   -  usb  unknown device: USB keyboard")


def test_json_carries_the_fields_scripts_rely_on(tmp_path: Path) -> None:
    media = MediaRef(tmp_path, STICK)
    inserted = event_to_json(MediaInserted(STICK, media))
    assert {"event", "device", "bus", "vendor", "model", "serial", "fs_type", "label"} <= set(
        inserted
    )
    assert inserted["event"] == "inserted" and inserted["root"] == str(tmp_path)
    assert event_to_json(MediaRemoved(STICK))["event"] == "removed"
    refused = event_to_json(MediaRefused(STICK, "filesystem ntfs is not supported"))
    assert refused["reason"] == "filesystem ntfs is not supported"
    json.dumps(refused)  # plain types only


def test_media_is_no_longer_present_once_its_folder_or_device_is_gone(tmp_path: Path) -> None:
    root = tmp_path / "stick"
    root.mkdir()
    plugged = {"in": True}
    media = MediaRef(root, STICK, _present=lambda: plugged["in"])
    assert media.is_present()
    plugged["in"] = False
    assert not media.is_present()
    shutil.rmtree(root)
    assert not MediaRef(root, STICK).is_present()
