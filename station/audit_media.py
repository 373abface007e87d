"""Write an audit export onto a USB stick the admin inserted for it: the one time the
station writes to media, as a separate, explicit and audited action.

The export is built and signed first (nothing is mounted if the signer refuses). Then the
media helper mounts the stick read-WRITE (`mount-export`, its own operation, under
/run/station/export), the file is written and fsynced, and `unmount-export` syncs, unmounts
and sets the device read-only again. A read-only mount the kiosk made of the same stick (it
mounts every stick it sees) is released first; a mount anywhere else is refused. Success and
failure are both audited (`audit-export`, `audit-export-failed`).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Sequence
from contextlib import suppress
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from station.audit import AuditError, AuditLog
from station.audit_export import build_export
from station.errors import MediaError, StationError
from station.media.events import DeviceInfo
from station.media.helper import EXPORT_BASE, MEDIA_BASE, MOUNT_NAME, SAFE_ENV
from station.media.mounts import HELPER_TIMEOUT, default_helper, existing_mounts
from station.signing import StationSigner


def export_to_media(
    device: DeviceInfo,
    *,
    log: AuditLog,
    home: Path,
    signer: StationSigner,
    admin: str,
    since: date | datetime,
    until: date | datetime | None = None,
    signer_dir: Path | None = None,
    helper: Sequence[str] | None = None,
    export_base: Path = EXPORT_BASE,
    media_base: Path = MEDIA_BASE,
) -> str:
    """Write a signed export of [since, until] onto the device; returns the file's name.

    Raises StationError (after auditing the failure) when anything fails.
    """
    argv = list(helper) if helper is not None else default_helper()
    name = Path(device.device).name
    try:
        if not MOUNT_NAME.match(name):
            raise MediaError(f"{device.device}: not a device name the station mounts")
        envelope = build_export(
            log, home, signer, since=since, until=until, signer_dir=signer_dir
        )
        data = envelope.to_bytes()
        for mount in existing_mounts(device.device):
            if Path(mount.mountpoint).parent != Path(os.path.realpath(media_base)):
                raise MediaError(
                    f"{device.device} is mounted at {mount.mountpoint}",
                    hint="remove the stick, insert it again, and export before anything reads it",
                )
            _helper(argv, ["unmount", Path(mount.mountpoint).name], device.device)
        _helper(argv, ["mount-export", device.device, device.fs_type, name], device.device)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        file_name = f"station-audit-{stamp}.json"
        target = export_base / name
        try:
            _write_durably(target / file_name, data)
        finally:
            _helper(argv, ["unmount-export", name], device.device)
    except (StationError, OSError) as exc:
        reason = exc.message if isinstance(exc, StationError) else f"{exc.strerror}: {exc}"
        _audit_quietly(log, "audit-export-failed", admin, device=device.to_json(), reason=reason)
        if isinstance(exc, StationError):
            raise
        raise MediaError(f"the export could not be written to {device.device}: {reason}") from exc
    log.append(
        "audit-export", actor=admin, device=device.to_json(), file=file_name,
        sha256=hashlib.sha256(data).hexdigest(), bytes=len(data),
        since=str(since), until=str(until) if until is not None else None,
    )
    return file_name


def usb_sticks(context: Any = None) -> list[DeviceInfo]:
    """USB storage present now that an export could go to (the admin screen's list)."""
    import pyudev

    from station.media.udev import device_info, storage_verdict

    udev = context if context is not None else pyudev.Context()
    sticks = []
    for device in udev.list_devices(subsystem="block"):
        if storage_verdict(device) == "":
            sticks.append(device_info(device))
    return sticks


def _write_durably(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def _helper(argv: list[str], args: list[str], device: str) -> None:
    try:
        result = subprocess.run(
            [*argv, *args], capture_output=True, text=True, env=SAFE_ENV,
            timeout=HELPER_TIMEOUT, check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise MediaError(f"{device}: the media helper could not run: {exc}") from exc
    if result.returncode != 0:
        detail = result.stderr.strip().removeprefix("station-media-helper: ")
        raise MediaError(f"{device}: {detail or 'the media helper failed'}")


def _audit_quietly(log: AuditLog, event: str, actor: str, **fields: object) -> None:
    # The caller raises the export's own error; a failing log shows itself next time.
    with suppress(AuditError):
        log.append(event, actor=actor, **fields)
