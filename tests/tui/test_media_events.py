"""Devices the station refuses are shown and audited, whatever the media source."""

from __future__ import annotations

import json
import threading

from station.demo import DemoHome
from station.media.events import DeviceInfo, MediaCallback, MediaRefused
from station.station import Station
from tests.tui.helpers import screen_text, wait_until
from tui.app import StationApp

KEYBOARD = DeviceInfo(device="/dev/input/event7", bus="usb", vendor="Evil", model="Stick-Keyboard")


class OneRefusal:
    """A media source (the protocol in station.media.events) that reports one refused
    device from its own thread, as the udev source does when a keyboard poses as a stick."""

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None

    def start(self, callback: MediaCallback) -> None:
        event = MediaRefused(KEYBOARD, "a keyboard (HID), not storage")
        self._thread = threading.Thread(target=callback, args=(event,))
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._thread.join()


async def test_refused_device_is_shown_and_audited(demo: DemoHome) -> None:
    app = StationApp(Station.open(demo.home), OneRefusal())
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: "Device refused" in _notifications(app), "the notice")
        assert "Evil Stick-Keyboard" in _notifications(app)
        assert "a keyboard (HID), not storage" in _notifications(app)
        await app.workers.wait_for_complete()
        assert "Step 1 of 6" in screen_text(app)
    records = [json.loads(line) for line in (demo.home / "audit.log").read_text().splitlines()]
    refused = [r for r in records if r["event"] == "media-refused"]
    assert len(refused) == 1
    assert refused[0]["device"]["model"] == "Stick-Keyboard"
    assert refused[0]["reason"] == "a keyboard (HID), not storage"


def _notifications(app: StationApp) -> str:
    return " ".join(str(n.message) for n in app._notifications)
