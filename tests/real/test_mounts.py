"""Read-only mounting for real: an ext4 image on a loop device, mounted by station.media.mounts.

Invariant 1 (nothing ever writes to the media): the mount refuses writes, the block device is
read-only, and the image's bytes are identical after a full inspect and verify of the bundle.
"""

from __future__ import annotations

import errno
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from station.bundle.reader import open_bundle
from station.errors import MediaError
from station.media.events import DeviceInfo
from station.media.mounts import Mounter, existing_mounts
from station.verify import verify_bundle
from station.verify.policy import Policy
from station.verify.trust import TrustStore
from tests.builders import Signer
from tests.real.media_fixtures import attached, bundle_image, missing_loop_tools, run

pytestmark = [
    pytest.mark.real,
    pytest.mark.skipif(bool(missing_loop_tools()), reason=f"missing: {missing_loop_tools()}"),
    pytest.mark.skipif(os.geteuid() != 0, reason="loop devices and mount need root"),
]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def loop_device(tmp_path: Path, signer: Signer) -> Iterator[tuple[str, Path]]:
    image = bundle_image(tmp_path, signer)
    with attached(image) as device:
        yield device, image


def _info(device: str, fs_type: str = "ext4") -> DeviceInfo:
    return DeviceInfo(device=device, bus="usb", fs_type=fs_type, label="TRANSFER")


def test_inspect_and_verify_leave_the_image_byte_identical(
    loop_device: tuple[str, Path], tmp_path: Path, signer: Signer
) -> None:
    device, image = loop_device
    before = _sha256(image)
    mounter = Mounter(base=tmp_path / "media")
    media = mounter.open(_info(device))
    try:
        assert media.root == tmp_path / "media" / Path(device).name
        assert media.owned and media.is_present()
        assert run("blockdev", "--getro", device) == "1"
        (mount,) = existing_mounts(device)
        assert {"ro", "nosuid", "nodev", "noexec"} <= set(mount.opts.split(","))

        with pytest.raises(OSError) as excinfo:
            (media.root / "planted.txt").write_bytes(b"x")
        assert excinfo.value.errno == errno.EROFS

        bundle = open_bundle(media.root)
        result = verify_bundle(
            bundle, TrustStore.load(signer.trust), Policy(), staging_root=tmp_path / "staging"
        )
        assert result.accepted, result.problems
        assert {i.path for i in result.items} == {"app.oci.tar", "docs/readme.txt"}
    finally:
        mounter.close(media)
    assert not media.root.exists(), "the mount point is removed after use"
    assert existing_mounts(device) == []
    assert _sha256(image) == before


@contextmanager
def _system_mount(device: str, where: Path, options: str) -> Iterator[Path]:
    """The device mounted by "the system" (an automounter), not by the station."""
    where.mkdir()
    run("mount", "-o", options, device, str(where))
    try:
        yield where
    finally:
        run("umount", str(where))


def test_a_device_mounted_writable_by_the_system_is_refused(
    loop_device: tuple[str, Path], tmp_path: Path
) -> None:
    device, _ = loop_device
    with _system_mount(device, tmp_path / "automount", "rw"):
        with pytest.raises(MediaError, match="already mounted writable"):
            Mounter(base=tmp_path / "media").open(_info(device))
        assert not (tmp_path / "media" / Path(device).name).exists()


def test_a_read_only_system_mount_is_reused_and_left_alone(
    loop_device: tuple[str, Path], tmp_path: Path
) -> None:
    device, _ = loop_device
    with _system_mount(device, tmp_path / "automount", "ro,noload") as elsewhere:
        mounter = Mounter(base=tmp_path / "media")
        media = mounter.open(_info(device))
        assert media.root == elsewhere and not media.owned
        assert (media.root / "SHA256SUMS").is_file()
        mounter.close(media)
        assert [m.mountpoint for m in existing_mounts(device)] == [str(elsewhere)]


def test_a_filesystem_the_station_does_not_mount_gets_a_clear_message(
    loop_device: tuple[str, Path], tmp_path: Path
) -> None:
    device, _ = loop_device
    with pytest.raises(MediaError) as excinfo:
        Mounter(base=tmp_path / "media").open(_info(device, fs_type="ntfs"))
    assert "cannot read this media (ntfs)" in excinfo.value.message
    assert excinfo.value.hint is not None and "ext4" in excinfo.value.hint
    assert existing_mounts(device) == []


def test_a_lying_filesystem_type_fails_to_mount_and_leaves_nothing(
    loop_device: tuple[str, Path], tmp_path: Path
) -> None:
    device, _ = loop_device
    with pytest.raises(MediaError, match="mounting"):
        Mounter(base=tmp_path / "media").open(_info(device, fs_type="xfs"))
    assert existing_mounts(device) == []
    assert not (tmp_path / "media" / Path(device).name).exists()


def test_a_mount_left_by_a_crashed_station_is_reused_and_released(
    loop_device: tuple[str, Path], tmp_path: Path
) -> None:
    device, _ = loop_device
    crashed = Mounter(base=tmp_path / "media").open(_info(device))  # never closed
    restarted = Mounter(base=tmp_path / "media")
    media = restarted.open(_info(device))
    assert media.root == crashed.root and media.owned
    restarted.close(media)
    assert existing_mounts(device) == [] and not media.root.exists()
