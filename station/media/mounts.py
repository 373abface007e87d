"""Read-only access to a USB device: reuse a read-only system mount, or mount it ourselves.

The station process itself is unprivileged on a kiosk. The one privileged step (set the
block device read-only, mount `ro,nosuid,nodev,noexec` into the station's media folder) is
done by `station.media.helper`, run through `sudo -n` and one sudoers rule naming it; as root
(tests, a root station) the helper runs directly. Either way it runs with a minimal fixed
environment. See docs/media.md for why this route rather than udisks.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import psutil

from station.children import run_child
from station.errors import MediaError
from station.media.events import DeviceInfo, MediaRef
from station.media.helper import FS_OPTIONS, MEDIA_BASE, MOUNT_NAME, SAFE_ENV

SUPPORTED_FILESYSTEMS = frozenset(FS_OPTIONS)
HELPER_PATH = "/opt/station/venv/bin/station-media-helper"
HELPER_TIMEOUT = 60


def default_helper() -> list[str]:
    """How to run the helper: directly as root, else through `sudo -n` (never prompts)."""
    if os.geteuid() == 0:
        return [sys.executable, "-I", "-m", "station.media.helper"]
    return ["sudo", "-n", HELPER_PATH]


def existing_mounts(device: str) -> list[Any]:
    """Every current mount of this device (by resolved path), from the kernel's table."""
    wanted = os.path.realpath(device)
    return [
        part
        for part in psutil.disk_partitions(all=True)
        if part.device.startswith("/") and os.path.realpath(part.device) == wanted
    ]


class Mounter:
    """Makes a USB device ready to read, read-only, and releases it afterwards."""

    def __init__(
        self, base: Path = MEDIA_BASE, helper: Sequence[str] | None = None
    ) -> None:
        self.base = base
        self._helper = list(helper) if helper is not None else default_helper()
        if base != MEDIA_BASE:
            self._helper += ["--base", str(base)]

    def open(self, device: DeviceInfo, present: Callable[[], bool] | None = None) -> MediaRef:
        """A MediaRef whose root is a read-only view of the device, or MediaError saying why."""
        if device.fs_type not in SUPPORTED_FILESYSTEMS:
            kind = device.fs_type or "no filesystem recognised"
            raise MediaError(
                f"{device.device}: cannot read this media ({kind})",
                hint="supported filesystems: " + ", ".join(sorted(SUPPORTED_FILESYSTEMS)),
            )
        mounts = existing_mounts(device.device)
        writable = [m for m in mounts if "ro" not in m.opts.split(",")]
        if writable:
            raise MediaError(
                f"{device.device} is already mounted writable at {writable[0].mountpoint}; "
                "the station reads only media that nothing can write to",
                hint="unmount it, install the station's udev rule, then reinsert the media",
            )
        if mounts:
            # A read-only mount in our own folder is a leftover of an earlier run: ours to
            # release. Anywhere else it belongs to the system and is left alone.
            root = Path(mounts[0].mountpoint)
            ours = root.parent == Path(os.path.realpath(self.base))
            return MediaRef(root, device, owned=ours, _present=present)
        name = self._mount_name(device)
        self._call(["mount", device.device, device.fs_type, name], device.device)
        root = self.base / name
        check = existing_mounts(device.device)
        wanted = os.path.realpath(root)
        if not any(m.mountpoint == wanted and "ro" in m.opts.split(",") for m in check):
            self._call(["unmount", name], device.device)
            raise MediaError(f"{device.device}: the read-only mount at {root} did not appear")
        return MediaRef(root, device, owned=True, _present=present)

    def close(self, media: MediaRef) -> None:
        """Unmount and remove the mount point, if the station made it; idempotent."""
        if not media.owned:
            return
        self._call(["unmount", media.root.name], media.device.device)

    @staticmethod
    def _mount_name(device: DeviceInfo) -> str:
        name = Path(device.device).name
        if not MOUNT_NAME.match(name):
            raise MediaError(f"{device.device}: not a device name the station mounts")
        return name

    def _call(self, args: list[str], device: str) -> None:
        try:
            result = run_child([*self._helper, *args], env=SAFE_ENV, timeout=HELPER_TIMEOUT)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise MediaError(
                f"{device}: the media helper could not run: {exc}",
                hint="check the station installation (packaging/README.md)",
            ) from exc
        if result.returncode != 0:
            stderr = result.stderr.decode("utf-8", "replace")
            detail = stderr.strip().removeprefix("station-media-helper: ")
            raise MediaError(
                f"{device}: {detail or 'the media helper failed'}",
                hint="remove the media; if this repeats, check the station's sudoers rule",
            )
