"""The one privileged step: set a USB block device read-only and mount it read-only.

Run as root, either directly (tests, a root station) or by the unprivileged kiosk user
through one sudoers rule naming this program (see packaging/ and docs/media.md). It trusts
none of its arguments: the device must be a whole block device with a known name (on the USB
bus when called through sudo), the filesystem one of the supported types, and the mount point
a plain name directly inside the station's media folder. Options are fixed here, never taken
from the caller: `ro,nosuid,nodev,noexec` (+`noload` for ext3/4, `norecovery` for xfs).

    station-media-helper mount DEVICE FSTYPE NAME
    station-media-helper unmount NAME

Two more operations, each separate and explicit (issue 15; docs/audit.md):

    station-media-helper sign TYPE < PAYLOAD                # DSSE envelope on stdout
    station-media-helper write-export DEVICE FSTYPE < EXPORT  # the file name on stdout

`sign` signs with the station key only the station's own payload types, after the checks in
`station.signer_checks` (the log it vouches for is read here, as root). `write-export` is
the one time the station writes to media: it writes one audit export signed by this station
onto a stick the admin inserted for it (mounted `rw,nosuid,nodev,noexec` under
/run/station/export only for that write, then synced, unmounted and set read-only again);
it refuses a device mounted anywhere, so a transfer's media is never made writable.

Exit codes: 0 done, 1 refused or failed (reason on stderr), 2 usage.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from station.children import run_child

MEDIA_BASE = Path("/run/station/media")
EXPORT_BASE = Path("/run/station/export")
STATION_HOME = Path("/var/lib/station")  # the kiosk's home (packaging/systemd)
SIGNER_DIR = Path("/var/lib/station-signer")
EXPORT_OPTIONS: dict[str, tuple[str, ...]] = {
    "ext2": (), "ext3": (), "ext4": (), "xfs": (), "vfat": ("utf8",), "exfat": (),
}
SAFE_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"}
BASE_OPTIONS = ("ro", "nosuid", "nodev", "noexec")
FS_OPTIONS: dict[str, tuple[str, ...]] = {
    "ext2": (),
    "ext3": ("noload",),
    "ext4": ("noload",),
    "xfs": ("norecovery",),
    "vfat": ("utf8", "shortname=mixed"),
    "exfat": (),
    "iso9660": (),
    "udf": (),
}
# File owners on FAT-family media are set at mount time; give them to the calling user.
OWNERLESS = {"vfat", "exfat"}
DEVICE_NAME = re.compile(r"^/dev/(sd[a-z]{1,3}[0-9]{0,3}|mmcblk[0-9]{1,3}(p[0-9]{1,3})?"
                         r"|sr[0-9]{1,3}|loop[0-9]{1,4})$")
MOUNT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class Refused(Exception):
    """An argument or a step that the helper will not accept; the message says which."""


def mount_options(fs_type: str, owner: tuple[int, int] | None = None) -> str:
    """The fixed option string for one filesystem type."""
    if fs_type not in FS_OPTIONS:
        raise Refused(f"filesystem {fs_type!r} is not supported")
    options = [*BASE_OPTIONS, *FS_OPTIONS[fs_type]]
    if owner is not None and fs_type in OWNERLESS:
        options += [f"uid={owner[0]}", f"gid={owner[1]}", "fmask=0277", "dmask=0277"]
    return ",".join(options)


def _via_sudo() -> bool:
    return "SUDO_UID" in os.environ


def check_device(device: str, *, require_usb: bool) -> str:
    """The device path, if it names a block device the helper may touch."""
    if not DEVICE_NAME.match(device) or os.path.realpath(device) != device:
        raise Refused(f"{device!r} is not a device name the station mounts")
    try:
        mode = os.stat(device).st_mode
    except OSError as exc:
        raise Refused(f"{device}: {exc.strerror}") from exc
    if not stat.S_ISBLK(mode):
        raise Refused(f"{device} is not a block device")
    if require_usb:
        sys_path = os.path.realpath(f"/sys/class/block/{Path(device).name}")
        if "/usb" not in sys_path:
            raise Refused(f"{device} is not on the USB bus")
    return device


def check_mount_point(name: str, base: Path) -> Path:
    """`base/name`, if name is one plain path component."""
    if not MOUNT_NAME.match(name):
        raise Refused(f"{name!r} is not an acceptable mount name")
    return base / name


def _run(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    """blockdev, mount, umount: children of this helper that die with it."""
    result = run_child(argv, env=SAFE_ENV)
    return subprocess.CompletedProcess(
        result.args,
        result.returncode,
        result.stdout.decode("utf-8", "replace"),
        result.stderr.decode("utf-8", "replace"),
    )


def _must(argv: Sequence[str], what: str) -> str:
    result = _run(argv)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise Refused(f"{what} failed: {detail[-1] if detail else f'exit {result.returncode}'}")
    return result.stdout


def mounted_writable(device: str) -> str | None:
    """Where the device is mounted read-write right now, if anywhere."""
    with open("/proc/self/mounts", encoding="utf-8", errors="replace") as mounts:
        for line in mounts:
            fields = line.split()
            if len(fields) >= 4 and fields[0] == device and "rw" in fields[3].split(","):
                return fields[1]
    return None


def mount(device: str, fs_type: str, target: Path, owner: tuple[int, int] | None) -> None:
    """blockdev --setro, check it took, then mount read-only at the target."""
    options = mount_options(fs_type, owner)
    where = mounted_writable(device)
    if where is not None:
        raise Refused(f"{device} is mounted writable at {where}")
    _must(["blockdev", "--setro", device], f"setting {device} read-only")
    if _must(["blockdev", "--getro", device], f"checking {device}").strip() != "1":
        raise Refused(f"{device} did not become read-only")
    target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    try:
        target.mkdir(mode=0o755)
    except FileExistsError:
        if os.path.ismount(target) or any(target.iterdir()):
            raise Refused(f"{target} is already in use") from None
    try:
        _must(["mount", "-t", fs_type, "-o", options, device, str(target)], f"mounting {device}")
    except Refused:
        target.rmdir()
        raise


def unmount(target: Path) -> None:
    """Unmount (lazily if a reader still holds a file) and remove the mount point."""
    if os.path.ismount(target) and _run(["umount", str(target)]).returncode != 0:
        _must(["umount", "-l", str(target)], f"unmounting {target}")
    if target.is_dir():
        target.rmdir()


def write_export(device: str, fs_type: str, target: Path, data: bytes, signer_dir: Path) -> str:
    """Mount read-write, write one signed audit export, sync, unmount, set read-only again.

    Only an export envelope signed by this station's key is written (so the helper cannot be
    used to put arbitrary files on sticks), under a name the helper chooses, never
    overwriting. The kiosk never holds a writable mount: everything happens here, as root.
    """
    from datetime import UTC, datetime

    from station.errors import StationError
    from station.signing import (
        EXPORT_PAYLOAD,
        KEY_NAME,
        Envelope,
        load_private_key,
        verify_envelope,
    )

    if fs_type not in EXPORT_OPTIONS:
        raise Refused(f"an export cannot be written to {fs_type!r}")
    try:
        envelope = Envelope.from_bytes(data)
        public = load_private_key(signer_dir / KEY_NAME).public_key()
    except StationError as exc:
        raise Refused(exc.message) from exc
    if envelope.payload_type != EXPORT_PAYLOAD or not verify_envelope(envelope, public):
        raise Refused("only an audit export signed by this station is written to media")
    with open("/proc/self/mounts", encoding="utf-8", errors="replace") as mounts:
        for line in mounts:
            fields = line.split()
            if fields and fields[0] == device:
                raise Refused(f"{device} is mounted at {fields[1]}; it is in use")
    options = ["rw", *BASE_OPTIONS[1:], *EXPORT_OPTIONS[fs_type]]
    name = "station-audit-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + ".json"
    target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    target.mkdir(mode=0o700)
    try:
        _must(["blockdev", "--setrw", device], f"making {device} writable")
        _must(["mount", "-t", fs_type, "-o", ",".join(options), device, str(target)],
              f"mounting {device}")
        try:
            fd = os.open(target / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            _must(["sync", "-f", str(target / name)], f"flushing {device}")
        finally:
            _must(["umount", str(target)], f"unmounting {device}")
    finally:
        _run(["blockdev", "--setro", device])
        target.rmdir()
    return name


def sign(payload_type: str, home: Path, signer_dir: Path) -> int:
    """Sign stdin as `payload_type` after the signer's checks; the envelope goes to stdout."""
    from station.errors import StationError
    from station.signer_checks import check_and_sign
    from station.signing import MAX_PAYLOAD_BYTES, SignerPaths

    payload = sys.stdin.buffer.read(MAX_PAYLOAD_BYTES + 1)
    try:
        envelope = check_and_sign(payload_type, payload, SignerPaths(home, signer_dir))
    except StationError as exc:
        print(f"station-media-helper: {exc.message}", file=sys.stderr)
        return 1
    sys.stdout.buffer.write(envelope.to_bytes())
    return 0


def _root_only_options(args: list[str]) -> tuple[dict[str, Path], list[str]] | None:
    """`--base`, `--export-base`, `--home`, `--signer-dir` DIR: direct root use only."""
    chosen: dict[str, Path] = {}
    names = ("--base", "--export-base", "--home", "--signer-dir")
    while args[:1] and args[0] in names and len(args) > 1:
        if _via_sudo() or os.geteuid() != 0:
            print(f"station-media-helper: {args[0]} is for direct root use only", file=sys.stderr)
            return None
        chosen[args[0]] = Path(args[1])
        args = args[2:]
    return chosen, args


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `station-media-helper`; returns the exit code."""
    parsed = _root_only_options(list(sys.argv[1:] if argv is None else argv))
    if parsed is None:
        return 2
    options, args = parsed
    base = options.get("--base", MEDIA_BASE)
    export_base = options.get("--export-base", EXPORT_BASE)
    try:
        if len(args) == 2 and args[0] == "sign":
            return sign(
                args[1], options.get("--home", STATION_HOME),
                options.get("--signer-dir", SIGNER_DIR),
            )
        if len(args) == 3 and args[0] == "write-export":
            from station.signing import MAX_PAYLOAD_BYTES

            device = check_device(args[1], require_usb=_via_sudo())
            target = check_mount_point(Path(device).name, export_base)
            data = sys.stdin.buffer.read(MAX_PAYLOAD_BYTES + 1)
            signer_dir = options.get("--signer-dir", SIGNER_DIR)
            print(write_export(device, args[2], target, data, signer_dir))
            return 0
        if len(args) == 4 and args[0] == "mount":
            device = check_device(args[1], require_usb=_via_sudo())
            target = check_mount_point(args[3], base)
            owner = None
            if _via_sudo():
                owner = (int(os.environ["SUDO_UID"]), int(os.environ.get("SUDO_GID", "0")))
            mount(device, args[2], target, owner)
            return 0
        if len(args) == 2 and args[0] == "unmount":
            unmount(check_mount_point(args[1], base))
            return 0
    except (Refused, OSError, ValueError) as exc:
        print(f"station-media-helper: {exc}", file=sys.stderr)
        return 1
    print(
        "usage: station-media-helper [--base DIR] mount DEVICE FSTYPE NAME | unmount NAME"
        " | sign TYPE | write-export DEVICE FSTYPE",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    sys.exit(main())
