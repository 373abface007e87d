"""The privileged mount helper refuses anything but a plain device, a known filesystem and a
plain name inside the station's media folder, before it touches the device."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from station.media import helper


def _main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = helper.main(list(argv))
    return code, capsys.readouterr().err


def test_options_are_fixed_read_only_and_never_from_the_caller() -> None:
    assert helper.mount_options("ext4") == "ro,nosuid,nodev,noexec,noload"
    assert helper.mount_options("ext3").endswith(",noload")
    assert helper.mount_options("xfs") == "ro,nosuid,nodev,noexec,norecovery"
    fat = helper.mount_options("vfat", owner=(1001, 1001)).split(",")
    assert fat[:4] == ["ro", "nosuid", "nodev", "noexec"]
    assert {"uid=1001", "gid=1001", "fmask=0277", "dmask=0277"} <= set(fat)
    with pytest.raises(helper.Refused, match="not supported"):
        helper.mount_options("ntfs")


@pytest.mark.parametrize(
    "device",
    ["/etc/passwd", "/dev/../etc/shadow", "/dev/sda1;reboot", "/dev/disk/by-label/X", "sdb1"],
)
def test_device_paths_outside_the_known_names_are_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, device: str
) -> None:
    code, err = _main(capsys, "--base", str(tmp_path), "mount", device, "ext4", "sdb1")
    assert code == 1
    assert "not a device name the station mounts" in err
    assert list(tmp_path.iterdir()) == []


def test_a_name_that_is_not_a_block_device_is_refused(tmp_path: Path) -> None:
    with pytest.raises(helper.Refused):
        helper.check_device("/dev/sdzz9", require_usb=False)  # no such device here


@pytest.mark.parametrize("name", ["../etc", "a/b", ".hidden", "", "x" * 80])
def test_mount_names_are_one_plain_component(name: str, tmp_path: Path) -> None:
    with pytest.raises(helper.Refused, match="not an acceptable mount name"):
        helper.check_mount_point(name, tmp_path)


def test_only_usb_devices_when_called_through_sudo() -> None:
    loops = sorted(p for p in os.listdir("/dev") if p.startswith("loop") and p[4:].isdigit())
    if not loops:
        pytest.skip("no loop device node in /dev to try")
    with pytest.raises(helper.Refused, match="not on the USB bus"):
        helper.check_device(f"/dev/{loops[0]}", require_usb=True)


def test_the_media_folder_cannot_be_moved_through_sudo(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SUDO_UID", "1000")
    code, err = _main(capsys, "--base", str(tmp_path), "unmount", "sdb1")
    assert code == 2
    assert "--base is for direct root use only" in err


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _main(capsys, "format", "/dev/sdb1")
    assert code == 2 and err.startswith("usage: station-media-helper")
