"""USB media from udev: a pyudev monitor on its own thread, turned into media events.

Only USB storage counts: partitions, and whole disks without a partition table. Disks on any
other bus (the station's own system disk, virtio, ata, loop) are ignored. A USB device that
is not storage (a keyboard, a network adapter) plugged in while the station runs is reported
as refused: a "stick" that also types is a known attack, and the audit log must show it.
Devices already present at start-up are reported too (block devices only: the kiosk's own
keyboard is not a refusal).

The watcher cannot die silently: if the monitor itself fails (its netlink socket breaks,
libudev errors), a `MediaWatcherFailed` event says so (the kiosk audits it and shows it on the
waiting screen), and the watcher starts again after 1 s, then 2, 4 ... up to 60 s for failures
in a row; after a restart it lists the devices present again, so a stick inserted or pulled
out meanwhile is reported, and sends `MediaWatcherRestarted`.
"""

from __future__ import annotations

import logging
import os
import re
import select
import threading
import time
from typing import Any

import pyudev

from station.errors import MediaError
from station.media.events import (
    DeviceInfo,
    MediaCallback,
    MediaEvent,
    MediaInserted,
    MediaRef,
    MediaRefused,
    MediaRemoved,
    MediaWatcherFailed,
    MediaWatcherRestarted,
    clean_text,
    event_line,
)
from station.media.mounts import SUPPORTED_FILESYSTEMS, Mounter

log = logging.getLogger("station.media")

WATCHED_SUBSYSTEMS = ("block", "usb", "input")
USB_CLASS_STORAGE = "08"
USB_CLASS_HUB = "09"
USB_CLASS_NAMES = {
    "01": "audio",
    "02": "communications (modem or network)",
    "03": "HID (keyboard, mouse or similar)",
    "06": "camera (PTP)",
    "07": "printer",
    "0a": "CDC data",
    "0e": "video",
    "e0": "wireless controller",
    "ff": "vendor-specific",
}
# Extended-partition containers hold other partitions, not a filesystem.
CONTAINER_PARTITION_TYPES = {"0x5", "0xf", "0x85"}

FIRST_RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 60.0
STABLE_SECONDS = 60.0  # a watch that ran this long before failing starts the count again

_ESCAPE = re.compile(r"\\x([0-9a-fA-F]{2})")


def _unescape(value: str) -> str:
    """udev's `_ENC` properties escape single bytes as `\\xHH` (UTF-8 sequences included)."""
    raw = bytearray()
    last = 0
    for match in _ESCAPE.finditer(value):
        raw += value[last : match.start()].encode("utf-8", "replace")
        raw.append(int(match.group(1), 16))
        last = match.end()
    raw += value[last:].encode("utf-8", "replace")
    return raw.decode("utf-8", "replace")


def _prop(device: Any, name: str) -> str:
    value = device.properties.get(name)
    return "" if value is None else str(value)


def _attr(device: Any, name: str) -> str:
    try:
        return str(device.attributes.asstring(name))
    except (KeyError, UnicodeDecodeError, OSError):
        return ""


def _usb_parent(device: Any) -> Any:
    if device.subsystem == "usb" and device.device_type == "usb_device":
        return device
    return device.find_parent("usb", "usb_device")


def _size_bytes(device: Any) -> int:
    """sysfs gives block sizes in 512-byte sectors, whatever the device's own sector size."""
    try:
        return int(device.attributes.asint("size")) * 512
    except (KeyError, ValueError, OSError):
        return 0


def device_info(device: Any) -> DeviceInfo:
    """DeviceInfo from a pyudev Device; every string cleaned, since the device chose it."""
    usb = _usb_parent(device)
    vendor = _unescape(_prop(device, "ID_VENDOR_ENC")) or _prop(device, "ID_VENDOR")
    model = _unescape(_prop(device, "ID_MODEL_ENC")) or _prop(device, "ID_MODEL")
    serial = _prop(device, "ID_SERIAL_SHORT")
    if usb is not None:
        vendor = vendor or _attr(usb, "manufacturer")
        model = model or _attr(usb, "product")
        serial = serial or _attr(usb, "serial")
    label = _unescape(_prop(device, "ID_FS_LABEL_ENC")) or _prop(device, "ID_FS_LABEL")
    bus = _prop(device, "ID_BUS") or ("usb" if usb is not None else "")
    return DeviceInfo(
        device=clean_text(device.device_node or "", 256),
        bus=clean_text(bus),
        vendor=clean_text(vendor),
        model=clean_text(model),
        serial=clean_text(serial),
        size=_size_bytes(device) if device.subsystem == "block" else 0,
        fs_type=clean_text(_prop(device, "ID_FS_TYPE")),
        label=clean_text(label),
        uuid=clean_text(_prop(device, "ID_FS_UUID")),
        sys_path=str(device.sys_path),
    )


def is_usb(device: Any) -> bool:
    return _prop(device, "ID_BUS") == "usb" or _usb_parent(device) is not None


def storage_verdict(device: Any) -> str | None:
    """None to ignore the block device, "" for media to read, else why it is refused."""
    if device.subsystem != "block" or device.device_type not in ("disk", "partition"):
        return None
    if not is_usb(device):
        return None
    if device.device_type == "disk" and _prop(device, "ID_PART_TABLE_TYPE"):
        return None  # its partitions are the media
    if _prop(device, "ID_PART_ENTRY_TYPE").lower() in CONTAINER_PARTITION_TYPES:
        return None
    if _size_bytes(device) == 0:
        return None  # an empty card-reader slot: no medium yet
    fs_type = _prop(device, "ID_FS_TYPE")
    if not fs_type:
        return "no filesystem recognised on this device"
    if _prop(device, "ID_FS_USAGE") == "crypto":
        return f"encrypted volume ({fs_type}): the station reads only unencrypted media"
    if fs_type not in SUPPORTED_FILESYSTEMS:
        supported = ", ".join(sorted(SUPPORTED_FILESYSTEMS))
        return f"filesystem {fs_type} is not supported (supported: {supported})"
    return ""


def foreign_usb_reason(device: Any) -> str | None:
    """Why a hot-plugged USB device that is not storage is refused; None if not such one."""
    if device.subsystem == "usb" and device.device_type == "usb_interface":
        klass = _attr(device, "bInterfaceClass").lower()
        if klass in ("", USB_CLASS_STORAGE, USB_CLASS_HUB):
            return None
        name = USB_CLASS_NAMES.get(klass, f"class {klass}")
        return f"USB {name} device, not storage: ignored"
    if device.subsystem == "input" and is_usb(device):
        kind = "keyboard" if _prop(device, "ID_INPUT_KEYBOARD") == "1" else "input device"
        return f"USB {kind}, not storage: ignored"
    return None


class UdevMediaSource:
    """USB storage as media; with a `Mounter`, each one is mounted read-only before it is
    reported, and unmounted when it goes away or the source stops."""

    def __init__(self, mounter: Mounter | None = None, *, context: Any = None) -> None:
        self._mounter = mounter
        self._context = context or pyudev.Context()
        self._thread: threading.Thread | None = None
        self._stop_r, self._stop_w = -1, -1
        self._monitor: Any = None
        self._tracked: dict[str, MediaRef | DeviceInfo] = {}
        self._presence: dict[str, _Presence] = {}
        self._refused_usb: set[str] = set()
        self._callback: MediaCallback | None = None

    def start(self, callback: MediaCallback) -> None:
        """Start listening, then report present devices and every later event."""
        if self._thread is not None:
            raise RuntimeError("the udev media source is already started")
        self._callback = callback
        try:
            self._monitor = self._open_monitor()
        except (OSError, ValueError) as exc:
            raise MediaError(
                f"cannot listen to udev for USB media: {exc}",
                hint="run on a system with udev (systemd-udevd), or watch a folder instead",
            ) from exc
        self._stop_r, self._stop_w = os.pipe()
        self._thread = threading.Thread(target=self._run, name="udev-media", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and unmount whatever this source mounted."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        os.write(self._stop_w, b"x")
        thread.join(timeout=10)
        for fd in (self._stop_r, self._stop_w):
            os.close(fd)
        self._release_all()

    def _open_monitor(self) -> Any:
        monitor = pyudev.Monitor.from_netlink(self._context)
        for subsystem in WATCHED_SUBSYSTEMS:
            monitor.filter_by(subsystem)
        monitor.start()  # before listing, so nothing inserted in between is missed
        return monitor

    def _run(self) -> None:
        """Watch until stopped; a failure of the watch itself is reported and the watch
        starts again after a growing pause."""
        failures = 0
        while True:
            started = time.monotonic()
            try:
                if self._monitor is None:
                    self._monitor = self._open_monitor()
                    self._post(MediaWatcherRestarted(failures))
                self._watch()
                return
            except Exception as exc:
                self._monitor = None
                if time.monotonic() - started >= STABLE_SECONDS:
                    failures = 0
                failures += 1
                pause = min(MAX_RETRY_SECONDS, FIRST_RETRY_SECONDS * 2 ** (failures - 1))
                log.exception("udev media watch failed; restarting in %g s", pause)
                reason = clean_text(f"{type(exc).__name__}: {exc}", 200)
                self._post(MediaWatcherFailed(reason, failures, pause))
            ready, _, _ = select.select([self._stop_r], [], [], pause)
            if ready:
                return

    def _watch(self) -> None:
        """List the devices present (again, after a restart), then follow the events."""
        present = list(self._context.list_devices(subsystem="block"))
        paths = {str(device.sys_path) for device in present}
        for sys_path in [p for p in self._tracked if p not in paths]:
            self._removed(sys_path)  # pulled out while the watcher was down
        for device in present:
            self._guarded("add", device, hotplug=False)
        while True:
            ready, _, _ = select.select([self._monitor.fileno(), self._stop_r], [], [])
            if self._stop_r in ready:
                return
            device = self._monitor.poll(timeout=0)
            if device is not None:
                self._guarded(None, device, hotplug=True)

    def _guarded(self, action: str | None, device: Any, *, hotplug: bool) -> None:
        """One odd device (its descriptors are the attacker's) must not stop the watch."""
        try:
            self._handle(device.action or "" if action is None else action, device,
                         hotplug=hotplug)
        except Exception:
            log.exception("ignored a udev event that could not be understood")

    def _post(self, event: MediaEvent) -> None:
        log.info("media %s", event_line(event))
        if self._callback is not None:
            try:
                self._callback(event)
            except Exception:
                log.exception("media event callback failed")

    def _handle(self, action: str, device: Any, *, hotplug: bool) -> None:
        sys_path = str(device.sys_path)
        if action == "remove":
            self._removed(sys_path)
            return
        if action == "change" and sys_path in self._tracked:
            self._changed(sys_path, device)
            return
        if action not in ("add", "change") or sys_path in self._tracked:
            return
        if device.subsystem == "block":
            verdict = storage_verdict(device)
            if verdict is None:
                return
            info = device_info(device)
            if verdict:
                self._tracked[sys_path] = info
                self._post(MediaRefused(info, verdict))
            else:
                self._inserted(info)
            return
        reason = foreign_usb_reason(device) if hotplug and action == "add" else None
        usb = _usb_parent(device)
        if reason is None or usb is None or str(usb.sys_path) in self._refused_usb:
            return
        self._refused_usb.add(str(usb.sys_path))
        self._post(MediaRefused(device_info(device), reason))

    def _changed(self, sys_path: str, device: Any) -> None:
        """A card reader's medium was swapped or taken out: no "remove" comes, only "change".
        Anything that is no longer the same filesystem counts as a removal (then a new media).
        """
        held = self._tracked[sys_path]
        before = held.device if isinstance(held, MediaRef) else held
        verdict = storage_verdict(device)
        now = device_info(device) if verdict is not None else None
        same = now is not None and (now.fs_type, now.uuid, now.size) == (
            before.fs_type, before.uuid, before.size
        )
        if same:
            return
        self._removed(sys_path)
        if now is not None:
            self._handle("add", device, hotplug=True)

    def _inserted(self, info: DeviceInfo) -> None:
        if self._mounter is None:
            self._tracked[info.sys_path] = info
            self._post(MediaInserted(info))
            return
        presence = self._presence[info.sys_path] = _Presence(info.sys_path)
        try:
            media = self._mounter.open(info, present=presence)
        except MediaError as exc:
            self._tracked[info.sys_path] = info
            self._post(MediaRefused(info, str(exc)))
            return
        self._tracked[info.sys_path] = media
        self._post(MediaInserted(info, media))

    def _removed(self, sys_path: str) -> None:
        self._refused_usb.discard(sys_path)
        held = self._tracked.pop(sys_path, None)
        if held is None:
            return
        info = held.device if isinstance(held, MediaRef) else held
        presence = self._presence.pop(sys_path, None)
        if presence is not None:
            presence.gone = True  # is_present() says no from now on, whatever sysfs shows
        self._post(MediaRemoved(info))  # first, so a reader aborts before the unmount
        if isinstance(held, MediaRef):
            self._release(held)

    def _release(self, media: MediaRef) -> None:
        if self._mounter is None:
            return
        try:
            self._mounter.close(media)
        except MediaError as exc:
            log.error("could not release %s: %s", media.root, exc)

    def _release_all(self) -> None:
        held, self._tracked = self._tracked, {}
        for item in held.values():
            if isinstance(item, MediaRef):
                self._release(item)


class _Presence:
    """Whether one insertion of a device is still there: not once its removal was reported
    (udev may announce it before sysfs is gone), and not once its sysfs folder vanished."""

    def __init__(self, sys_path: str) -> None:
        self.sys_path = sys_path
        self.gone = False

    def __call__(self) -> bool:
        return not self.gone and os.path.isdir(self.sys_path)
