"""A folder of folders as media: the demo, a mounted DVD, a network drop.

Each subfolder that appears in the watched folder is one inserted media, rooted at that
subfolder; when it disappears, it is removed. Polling (default every 0.5 s) is enough for
a person walking up with a disc and keeps this free of inotify's corner cases. A subfolder
that appears while the source runs is reported once its top level has stopped changing for
one interval, so a copy in progress is less likely to be read half-way (a drop tool should
still copy elsewhere and rename into place). Hidden entries (`.name`) and files are ignored.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from station.media.events import (
    DeviceInfo,
    MediaCallback,
    MediaEvent,
    MediaInserted,
    MediaRef,
    MediaRemoved,
    clean_text,
    event_line,
)

log = logging.getLogger("station.media")


def folder_device(path: Path) -> DeviceInfo:
    """A folder described as a device: bus `folder`, the folder name as label."""
    return DeviceInfo(
        device=str(path),
        bus="folder",
        model="folder",
        label=clean_text(path.name),
        sys_path=str(path),
    )


def _snapshot(path: Path) -> tuple[int, int]:
    """Cheap change detector: the folder's own mtime and its number of entries."""
    try:
        st = path.stat()
        return st.st_mtime_ns, len(os.listdir(path))
    except OSError:
        return -1, -1


class FolderMediaSource:
    """Watches `parent`; every settled subfolder is a media, rooted there."""

    def __init__(self, parent: Path, interval: float = 0.5) -> None:
        self.parent = parent
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._callback: MediaCallback | None = None
        self._present: dict[str, MediaRef] = {}
        self._pending: dict[str, tuple[int, int]] = {}

    def start(self, callback: MediaCallback) -> None:
        if self._thread is not None:
            raise RuntimeError("the folder media source is already started")
        self._callback = callback
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="folder-media", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            thread.join(timeout=10)

    def _post(self, event: MediaEvent) -> None:
        log.info("media %s", event_line(event))
        if self._callback is not None:
            try:
                self._callback(event)
            except Exception:
                log.exception("media event callback failed")

    def _subfolders(self) -> dict[str, Path]:
        try:
            entries = list(os.scandir(self.parent))
        except OSError:
            return {}
        return {
            e.name: Path(e.path)
            for e in entries
            if not e.name.startswith(".") and e.is_dir(follow_symlinks=False)
        }

    def _run(self) -> None:
        first = True
        while True:
            try:
                self._scan(settle=not first)
            except Exception:
                log.exception("folder media watch failed on %s", self.parent)
            first = False
            if self._stop.wait(self.interval):
                return

    def poll_once(self, callback: MediaCallback, *, settle: bool = True) -> None:
        """One scan without the thread, for callers that drive the source themselves."""
        if self._thread is not None:
            raise RuntimeError("the folder media source is running on its own thread")
        self._callback = callback
        self._scan(settle=settle)

    def _scan(self, *, settle: bool) -> None:
        current = self._subfolders()
        for name in sorted(set(self._present) - set(current)):
            media = self._present.pop(name)
            self._post(MediaRemoved(media.device))
        for name in sorted(set(self._pending) - set(current)):
            del self._pending[name]
        for name, path in sorted(current.items()):
            if name in self._present:
                continue
            snap = _snapshot(path)
            if settle and self._pending.get(name) != snap:
                self._pending[name] = snap  # seen changing: wait one more interval
                continue
            self._pending.pop(name, None)
            media = MediaRef(path, folder_device(path), owned=False)
            self._present[name] = media
            self._post(MediaInserted(media.device, media))
