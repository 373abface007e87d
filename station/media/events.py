"""What a media source reports: devices, media ready to read, and the events between them.

Every string here comes from the device (USB descriptors, filesystem labels) and so from the
attacker: `clean_text` strips control and bidirectional characters before anything is shown
or logged. Events are plain frozen data so they can cross threads and go into the audit log.
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from station.progress import format_size

MAX_TEXT = 64


def clean_text(value: object, limit: int = MAX_TEXT) -> str:
    """A device-supplied string made safe to print: no control, format or bidi characters."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = str(value).replace("\\x20", " ")
    out = []
    for char in text:
        category = unicodedata.category(char)
        out.append("?" if category[0] in ("C", "Z") and char != " " else char)
    cleaned = "".join(out).strip()
    return cleaned[:limit]


@dataclass(frozen=True)
class DeviceInfo:
    """One device as udev (or a folder) describes it; `size` in bytes, 0 when unknown."""

    device: str
    bus: str = ""
    vendor: str = ""
    model: str = ""
    serial: str = ""
    size: int = 0
    fs_type: str = ""
    label: str = ""
    uuid: str = ""
    sys_path: str = ""

    def describe(self) -> str:
        """One line for people: `SanDisk Cruzer (serial 4C53) 14.3 GiB ext4 "TRANSFER"`."""
        parts = [" ".join(p for p in (self.vendor, self.model) if p) or "unknown device"]
        if self.serial:
            parts.append(f"(serial {self.serial})")
        if self.size:
            parts.append(format_size(self.size))
        if self.fs_type:
            parts.append(self.fs_type)
        if self.label:
            parts.append(f'"{self.label}"')
        return " ".join(parts)

    def to_json(self) -> dict[str, str | int]:
        return {
            "device": self.device,
            "bus": self.bus,
            "vendor": self.vendor,
            "model": self.model,
            "serial": self.serial,
            "size": self.size,
            "fs_type": self.fs_type,
            "label": self.label,
            "uuid": self.uuid,
            "sys_path": self.sys_path,
        }


@dataclass(frozen=True)
class MediaRef:
    """A media ready to read: open the bundle from `root`, ask `is_present()` between reads.

    `owned` says whether the station mounted `root` itself (and so unmounts it at the end).
    """

    root: Path
    device: DeviceInfo
    owned: bool = False
    _present: Callable[[], bool] | None = field(default=None, compare=False, repr=False)

    def is_present(self) -> bool:
        """False once the media was pulled out or its folder vanished; reads then fail."""
        if self._present is not None and not self._present():
            return False
        return os.path.isdir(self.root)


@dataclass(frozen=True)
class MediaInserted:
    """A USB storage device (or a media folder) appeared.

    `media` is set when the source made it ready to read (mounted read-only, or a folder);
    it is None for a source that only watches (`station media watch` without `--mount`).
    """

    device: DeviceInfo
    media: MediaRef | None = None
    kind = "inserted"

    def describe(self) -> str:
        where = f" at {self.media.root}" if self.media is not None else ""
        return f"{self.device.describe()}{where}"


@dataclass(frozen=True)
class MediaRemoved:
    """The device or folder went away: any transfer reading from it must abort."""

    device: DeviceInfo
    kind = "removed"

    def describe(self) -> str:
        return self.device.describe()


@dataclass(frozen=True)
class MediaRefused:
    """A device the station will not read: not storage (a keyboard), or not mountable safely.

    Always worth logging: a keyboard that appears with a stick is a known attack.
    """

    device: DeviceInfo
    reason: str
    kind = "refused"

    def describe(self) -> str:
        return f"{self.device.describe()}: {self.reason}"


@dataclass(frozen=True)
class MediaWatcherFailed:
    """The watcher itself failed (not a device): no media is seen until it restarts.

    The kiosk audits it and shows it on the waiting screen; the watcher tries again after
    `retry_in` seconds (the wait doubles with each failure in a row, up to a minute).
    """

    reason: str
    failures: int  # in a row, this one included
    retry_in: float
    kind = "watcher-failed"

    def describe(self) -> str:
        return (
            f"the media watcher failed ({self.reason}); no media is seen until it restarts "
            f"in {self.retry_in:g} s (failure {self.failures} in a row)"
        )


@dataclass(frozen=True)
class MediaWatcherRestarted:
    """The watcher listens again after a failure; devices present were listed again (a stick
    inserted meanwhile is reported as inserted, one pulled out meanwhile as removed)."""

    failures: int  # how many failures in a row came before
    kind = "watcher-restarted"

    def describe(self) -> str:
        return f"the media watcher is listening again after {self.failures} failure(s)"


DeviceEvent = MediaInserted | MediaRemoved | MediaRefused
WatcherEvent = MediaWatcherFailed | MediaWatcherRestarted
MediaEvent = DeviceEvent | WatcherEvent
MediaCallback = Callable[[MediaEvent], None]


def event_to_json(event: MediaEvent) -> dict[str, str | int | float]:
    """One JSON object per event, as `station media watch --json` prints it."""
    if isinstance(event, MediaWatcherFailed):
        return {"event": event.kind, "reason": event.reason, "failures": event.failures,
                "retry_in": event.retry_in}
    if isinstance(event, MediaWatcherRestarted):
        return {"event": event.kind, "failures": event.failures}
    data: dict[str, str | int | float] = {"event": event.kind, **event.device.to_json()}
    if isinstance(event, MediaRefused):
        data["reason"] = event.reason
    if isinstance(event, MediaInserted) and event.media is not None:
        data["root"] = str(event.media.root)
    return data


def event_line(event: MediaEvent) -> str:
    """One line per event, `udevadm monitor` style: `inserted  /dev/sdb1  usb  ...`."""
    if isinstance(event, MediaWatcherFailed | MediaWatcherRestarted):
        return f"{event.kind:<9} -  -  {event.describe()}"
    return f"{event.kind:<9} {event.device.device or '-'}  {event.device.bus or '-'}  " + (
        event.describe()
    )


class MediaSource(Protocol):
    """Something that reports media coming and going: udev, or a folder of folders.

    `start` returns at once; the callback then runs on the source's own thread and must only
    post or queue (a Textual `post_message`, a `queue.Queue.put`). `stop` ends the thread and
    releases what the source holds (read-only mounts), and may be called more than once.
    """

    def start(self, callback: MediaCallback) -> None: ...

    def stop(self) -> None: ...
