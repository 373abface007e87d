"""The kiosk's side of issue 10: a media watcher failure is audited and shown, and media
inserted while another transfer (a `station import`) holds the home is refused, saying which."""

from __future__ import annotations

import json
import threading

from station.demo import DemoHome
from station.lock import TransferLock
from station.media.events import MediaCallback, MediaWatcherFailed, MediaWatcherRestarted
from station.station import Station
from tests.tui.helpers import kiosk_app, screen_text, wait_until
from tui.app import StationApp
from tui.screens.failure import FailureScreen


class FailingWatcher:
    """A media source whose watcher fails once and restarts, from its own thread, with the
    events `station.media.udev.UdevMediaSource` sends (tests/real/test_udev.py makes the real
    monitor fail)."""

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None

    def start(self, callback: MediaCallback) -> None:
        def run() -> None:
            callback(MediaWatcherFailed("OSError: [Errno 88] Socket operation on non-socket",
                                        1, 1.0))
            callback(MediaWatcherRestarted(1))

        self._thread = threading.Thread(target=run)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._thread.join()


def _notifications(app: StationApp) -> str:
    return " ".join(str(n.message) for n in app._notifications)


async def test_a_media_watcher_failure_is_audited_and_shown(demo: DemoHome) -> None:
    app = StationApp(Station.open(demo.home), FailingWatcher())
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: "listening again" in _notifications(app), "the notices")
        assert "the media watcher failed (OSError" in _notifications(app)
        assert "no media is seen until it restarts" in _notifications(app)
        await app.workers.wait_for_complete()
    records = [json.loads(line) for line in (demo.home / "audit.log").read_text().splitlines()]
    failed = [r for r in records if r["event"] == "media-watcher-failed"]
    assert [(r["failures"], r["retry_in"]) for r in failed] == [(1, 1.0)]
    assert "non-socket" in failed[0]["reason"]
    assert [r["failures"] for r in records if r["event"] == "media-watcher-restarted"] == [1]


async def test_media_inserted_while_a_cli_import_holds_the_home_is_refused(
    demo: DemoHome,
) -> None:
    app, feed = kiosk_app(demo)
    cli = TransferLock.acquire(demo.home, command="station import /mnt/usb --to registry")
    cli.describe_as(transfer="cli-1", digest="sha256:" + "ab" * 32)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            feed.insert(demo.media[0])
            await wait_until(pilot, lambda: isinstance(app.screen, FailureScreen), "the refusal")
            text = screen_text(app)
            assert "another transfer is running" in text
            assert "station import /mnt/usb" in text
            assert app.transfer is None
    finally:
        cli.release()
