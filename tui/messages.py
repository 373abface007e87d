"""Messages that carry results from worker threads and media callbacks to the screens.

Workers and the media source's thread never touch widgets: they post one of these
(`post_message` is thread-safe) and a handler on the UI thread draws the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textual.message import Message

from station.media.events import DeviceInfo, WatcherEvent
from station.progress import Progress


@dataclass
class MediaArrived(Message):
    """Media with a readable folder appeared (a USB stick mounted, a demo folder dropped)."""

    root: Path
    device: DeviceInfo


@dataclass
class MediaGone(Message):
    """The media was removed; any transfer reading it stops."""

    device: DeviceInfo


@dataclass
class MediaRefused(Message):
    """Something was plugged in that is not acceptable media (a keyboard posing as a stick)."""

    reason: str
    device: DeviceInfo


@dataclass
class MediaWatcherChanged(Message):
    """The media watcher failed (no media is seen until it restarts) or listens again."""

    event: WatcherEvent


@dataclass
class WorkProgress(Message):
    """A progress report from a worker; the core throttles these to about ten a second."""

    progress: Progress

    def can_replace(self, message: Message) -> bool:
        """A newer report makes an older one still queued pointless."""
        return isinstance(message, WorkProgress)


@dataclass
class ImportStep(Message):
    """One step of an import changed: `status` is running, done or failed."""

    name: str
    status: str
    detail: str = ""


@dataclass
class WorkFinished(Message):
    """A worker's result (a Bundle, a Verification, an Approval, a Receipt, a status)."""

    kind: str
    result: Any
