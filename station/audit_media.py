"""Write an audit export onto a USB stick the admin inserted for it: the one time the
station writes to media, as a separate, explicit and audited action.

The export is built and signed first (nothing is mounted if the signer refuses). Then the
media helper's own operation `write-export` (as root) mounts the stick read-WRITE under
/run/station/export, writes the file (only an export signed by this station), fsyncs,
syncs, unmounts and sets the device read-only again: the kiosk never holds a writable mount.
A read-only mount the kiosk made of the same stick (it mounts every stick it sees) is
released first; a mount anywhere else is refused. Success and failure are both audited
(`audit-export`, `audit-export-failed`).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Sequence
from contextlib import suppress
from datetime import date, datetime
from pathlib import Path
from typing import Any

from station.audit import AuditError, AuditLog
from station.audit_export import build_export
from station.children import run_child
from station.errors import MediaError, StationError
from station.media.events import DeviceInfo
from station.media.helper import MEDIA_BASE, MOUNT_NAME, SAFE_ENV
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
        file_name = _helper(
            argv, ["write-export", device.device, device.fs_type], device.device, data
        ).strip()
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


def _helper(argv: list[str], args: list[str], device: str, data: bytes = b"") -> str:
    """Run one helper operation; its stdout, or MediaError with the helper's reason."""
    try:
        result = run_child([*argv, *args], input=data, env=SAFE_ENV, timeout=HELPER_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise MediaError(f"{device}: the media helper could not run: {exc}") from exc
    if result.returncode != 0:
        detail = result.stderr.decode("utf-8", "replace").strip()
        detail = detail.removeprefix("station-media-helper: ")
        raise MediaError(f"{device}: {detail or 'the media helper failed'}")
    return result.stdout.decode("utf-8", "replace")


def _audit_quietly(log: AuditLog, event: str, actor: str, **fields: object) -> None:
    # The caller raises the export's own error; a failing log shows itself next time.
    with suppress(AuditError):
        log.append(event, actor=actor, **fields)
