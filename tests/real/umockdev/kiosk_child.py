"""Child for the kiosk-under-udev test: the real kiosk app, headless, inside the testbed.

    kiosk_child.py STATION_HOME MOUNT_DIR

Runs `StationApp` (Textual's `run_test`, 120x40) with the real `UdevMediaSource` and
`Mounter`, and drives it as an operator would: wait for a stick, read its contents, press V.
The first progress report of the verification is held until the app has aborted the
transfer (the test pulls the stick meanwhile), so the removal lands mid-read every time.
Prints JSON lines: `{"ready": ...}`, `{"contents": ...}`, `{"verifying": ...}`,
`{"aborted": ...}`, or `{"error": traceback}` if the app did not get there.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from textual.widgets import Static
from textual.widgets.tree import TreeNode

from station.media.events import DeviceInfo
from station.media.mounts import Mounter
from station.media.udev import UdevMediaSource
from station.progress import Progress, ProgressCallback
from station.station import Station
from station.workflow import Transfer, TransferState
from tests.tui.helpers import screen_text, wait_until
from tui.app import StationApp
from tui.screens.aborted import AbortedScreen
from tui.screens.contents import ContentsScreen
from tui.widgets.bundle_tree import BundleTree

HOLD_TIMEOUT = 15.0
"""How long hashing waits for the app to abort; running out means the app did not."""


def say(doc: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(doc) + "\n")
    sys.stdout.flush()


class Hold:
    """Holds every hashing thread at its first progress report until `release` is set."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._released = threading.Event()
        self.first: Progress | None = None
        self.by_abort: bool | None = None
        """True once the transfer was aborted while held; False if the hold timed out."""
        self.verify_ended: str | None = None
        """How `Transfer.verify` ended: the exception's class name, or "returned"."""

    def wrap(self, on_progress: ProgressCallback | None, release: threading.Event
             ) -> ProgressCallback:
        def held(progress: Progress) -> None:
            with self._lock:
                first = self.first is None
                if first:
                    self.first = progress
            if first:
                say({"verifying": {"path": progress.path, "done": progress.done,
                                   "total": progress.total}})
                self.by_abort = release.wait(HOLD_TIMEOUT)
                self._released.set()
            else:
                self._released.wait(HOLD_TIMEOUT)
            if on_progress is not None:
                on_progress(progress)

        return held


HOLD = Hold()


class HeldStation(Station):
    """The real station; its transfers' hashing waits in `HOLD` until they are aborted, so
    the abort is recorded (with the app's reason) before the hashing can notice anything."""

    def new_transfer(self, media_root: Path, device: DeviceInfo | None = None) -> Transfer:
        transfer = super().new_transfer(media_root, device)
        verify = transfer.verify
        aborted = threading.Event()
        transfer.add_listener(
            lambda event: aborted.set() if event.state is TransferState.ABORTED else None
        )

        def held_verify(
            on_progress: ProgressCallback | None = None, cancel: threading.Event | None = None
        ) -> Any:
            try:
                result = verify(on_progress=HOLD.wrap(on_progress, aborted), cancel=cancel)
            except BaseException as exc:
                HOLD.verify_ended = type(exc).__name__
                raise
            HOLD.verify_ended = "returned"
            return result

        transfer.verify = held_verify  # type: ignore[method-assign]
        return transfer


def _labels(node: TreeNode[object]) -> Iterator[str]:
    yield str(node.label)
    for child in node.children:
        yield from _labels(child)


async def drive(home: Path, mount_dir: Path) -> None:
    station = HeldStation.open(home)
    app = StationApp(station, UdevMediaSource(Mounter(mount_dir)))
    async with app.run_test(size=(120, 40)) as pilot:
        say({"ready": type(app.screen).__name__})

        def showing_bundle() -> bool:
            return isinstance(app.screen, ContentsScreen) and app.screen.bundle is not None

        await wait_until(pilot, showing_bundle, "the stick's contents", timeout=20)
        tree = app.screen.query_one(BundleTree)
        say({"contents": {
            "labels": list(_labels(tree.root)),
            "media": str(app.screen.query_one("#media-line", Static).render()),
        }})
        transfer = app.transfer
        assert transfer is not None
        await pilot.press("v")
        await wait_until(pilot, lambda: isinstance(app.screen, AbortedScreen), "the abort",
                         timeout=20)
        text = screen_text(app)
        await wait_until(pilot, lambda: transfer.state is TransferState.ABORTED, "aborted")
        await app.workers.wait_for_complete()
        say({"aborted": {
            "text": text,
            "state": transfer.state.value,
            "verification": transfer.verification is not None,
            "held_until_aborted": HOLD.by_abort,
            "verify_ended": HOLD.verify_ended,
        }})


def main() -> int:
    try:
        asyncio.run(drive(Path(sys.argv[1]), Path(sys.argv[2])))
    except BaseException:
        say({"error": traceback.format_exc()})
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
