"""Fake USB hardware for tests: a umockdev testbed in a controller process, driven from here.

    with FakeUdev() as udev:
        udev.add(usb_stick("sdb", partition_fs="ext4"))
        udev.spawn([sys.executable, "-m", "station.cli.main", "media", "watch", "--json"])
        line = udev.child_line()

The controller (controller.py) runs under `umockdev-wrapper`; the child it spawns sees the
fake /sys and /dev and receives the fake uevents through pyudev's netlink monitor.
"""

from __future__ import annotations

import json
import queue
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

CONTROLLER = Path(__file__).with_name("controller.py")
USB_HOST = "/devices/pci0000:00/0000:00:14.0/usb1"


def missing_reason() -> str | None:
    """Why umockdev cannot run here, or None."""
    if shutil.which("umockdev-wrapper") is None:
        return "umockdev-wrapper not installed (Debian package umockdev)"
    return None


class FakeUdev:
    """One controller process; commands are answered in order, child lines queued apart."""

    def __init__(self) -> None:
        self._proc = subprocess.Popen(
            ["umockdev-wrapper", sys.executable, str(CONTROLLER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._replies: queue.Queue[dict[str, Any]] = queue.Queue()
        self._child: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for raw in self._proc.stdout:
            doc = json.loads(raw)
            if "child" in doc:
                self._child.put(doc["child"])
            elif "child_exit" in doc:
                self._child.put(None)
            else:
                self._replies.put(doc)
        self._replies.put({"error": "controller exited"})

    def _command(self, doc: dict[str, Any]) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.write(json.dumps(doc) + "\n")
        self._proc.stdin.flush()
        reply = self._replies.get(timeout=20)
        if "error" in reply:
            raise RuntimeError(f"umockdev controller: {reply['error']}")

    def add(self, description: str) -> None:
        """Add devices (umockdev text format); each gets an "add" uevent."""
        self._command({"add": description})

    def remove(self, sys_path: str) -> None:
        """Send "remove" for the device, then take it out of /sys."""
        self._command({"remove": sys_path})

    def change(self, sys_path: str, values: dict[str, str]) -> None:
        """Set attributes (`A:name`) and properties (`E:name`), then send "change"."""
        self._command({"change": [sys_path, values]})

    def spawn(self, argv: list[str]) -> None:
        self._command({"spawn": argv})

    def child_line(self, timeout: float = 15) -> str | None:
        """The child's next stdout line; None once it has exited."""
        return self._child.get(timeout=timeout)

    def child_json(self, timeout: float = 15) -> dict[str, Any]:
        line = self.child_line(timeout)
        assert line is not None, "the watcher exited early"
        doc: dict[str, Any] = json.loads(line)
        return doc

    def close(self) -> None:
        if self._proc.stdin is not None and not self._proc.stdin.closed:
            self._proc.stdin.close()
        try:
            self._proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()

    def __enter__(self) -> FakeUdev:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def usb_stick(
    name: str,
    *,
    port: str = "1-1",
    vendor: str = "SanDisk",
    model: str = "Cruzer Blade",
    serial: str = "4C530001",
    fs_type: str = "ext4",
    label: str = "TRANSFER",
    uuid: str = "3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f",
    sectors: int = 2048 * 64,
    partitioned: bool = True,
    devnode: str | None = None,
) -> tuple[str, str]:
    """A USB stick: usb device, storage interface, disk, and (by default) one partition.

    Returns (umockdev description, sys path of the media block device). `devnode` names the
    media's device node (e.g. a real loop device, so the mount helper can mount it).
    """
    usb = f"{USB_HOST}/{port}"
    disk = f"{usb}/{port}:1.0/host6/target6:0:0/6:0:0:0/block/{name}"
    enc_model = model.replace(" ", "\\x20")
    common = (
        f"E: ID_BUS=usb\nE: ID_VENDOR={vendor}\nE: ID_MODEL={model.replace(' ', '_')}\n"
        f"E: ID_MODEL_ENC={enc_model}\nE: ID_SERIAL_SHORT={serial}\n"
    )
    fs = f"E: ID_FS_TYPE={fs_type}\nE: ID_FS_USAGE=filesystem\nE: ID_FS_LABEL={label}\n" \
        f"E: ID_FS_UUID={uuid}\n"
    parts = [
        f"P: {usb}\nN: bus/usb/001/0{port[-1]}2\nE: SUBSYSTEM=usb\nE: DEVTYPE=usb_device\n"
        f"A: manufacturer={vendor}\nA: product={model}\nA: serial={serial}\n",
        f"P: {usb}/{port}:1.0\nE: SUBSYSTEM=usb\nE: DEVTYPE=usb_interface\n"
        "A: bInterfaceClass=08\n",
    ]
    media_node = devnode or (f"/dev/{name}1" if partitioned else f"/dev/{name}")
    if partitioned:
        parts.append(
            f"P: {disk}\nN: {name}\nE: SUBSYSTEM=block\nE: DEVTYPE=disk\nE: DEVNAME=/dev/{name}\n"
            f"{common}E: ID_PART_TABLE_TYPE=dos\nA: size={sectors + 2048}\n"
        )
        media = f"{disk}/{name}1"
        parts.append(
            f"P: {media}\nN: {media_node.removeprefix('/dev/')}\nE: SUBSYSTEM=block\n"
            f"E: DEVTYPE=partition\nE: DEVNAME={media_node}\n{common}{fs}"
            f"E: ID_PART_ENTRY_TYPE=0x83\nA: size={sectors}\n"
        )
    else:
        media = disk
        parts.append(
            f"P: {disk}\nN: {media_node.removeprefix('/dev/')}\nE: SUBSYSTEM=block\n"
            f"E: DEVTYPE=disk\nE: DEVNAME={media_node}\n{common}{fs}A: size={sectors}\n"
        )
    return "\n".join(parts), "/sys" + media


def virtio_disk(name: str = "vdb", fs_type: str = "ext4") -> tuple[str, str]:
    """A second internal disk (virtio): must be ignored, whatever it holds."""
    path = f"/devices/pci0000:00/0000:00:05.0/virtio2/block/{name}"
    text = (
        f"P: {path}\nN: {name}\nE: SUBSYSTEM=block\nE: DEVTYPE=disk\nE: DEVNAME=/dev/{name}\n"
        f"E: ID_FS_TYPE={fs_type}\nE: ID_FS_USAGE=filesystem\nE: ID_FS_LABEL=INTERNAL\n"
        "A: size=409600\n"
    )
    return text, "/sys" + path


def usb_keyboard(port: str = "1-3") -> tuple[str, str]:
    """A USB keyboard: usb device, HID interface, input device."""
    usb = f"{USB_HOST}/{port}"
    iface = f"{usb}/{port}:1.0"
    text = (
        f"P: {usb}\nN: bus/usb/001/009\nE: SUBSYSTEM=usb\nE: DEVTYPE=usb_device\n"
        "A: manufacturer=Teensyduino\nA: product=Keyboard\nA: serial=K1\n\n"
        f"P: {iface}\nE: SUBSYSTEM=usb\nE: DEVTYPE=usb_interface\nA: bInterfaceClass=03\n\n"
        f"P: {iface}/0003:16C0:047C.0001/input/input9\nE: SUBSYSTEM=input\nE: ID_BUS=usb\n"
        "E: ID_INPUT=1\nE: ID_INPUT_KEYBOARD=1\nE: ID_VENDOR=Teensyduino\n"
        "E: ID_MODEL=Keyboard\nA: name=Teensyduino Keyboard\n"
    )
    return text, "/sys" + usb
