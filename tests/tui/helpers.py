"""Driving the kiosk in tests: build it on a real demo station, wait for screens."""

from __future__ import annotations

import time
from collections.abc import Callable

from textual.pilot import Pilot

from station.demo import DemoFeed, DemoHome
from station.media.folder import FolderMediaSource
from station.station import Station
from tui.app import StationApp


def kiosk_app(
    demo: DemoHome, *, kiosk: bool = True, station_class: type[Station] = Station
) -> tuple[StationApp, DemoFeed]:
    """The real app on the demo station; media go in and out through `feed`, as in the demo."""
    feed = DemoFeed(demo, auto=False)
    station = station_class.open(demo.home)
    media = FolderMediaSource(demo.media_dir, interval=0.05)
    return StationApp(station, media, kiosk=kiosk, demo=feed), feed


async def wait_until(
    pilot: Pilot[None], condition: Callable[[], bool], what: str, timeout: float = 15.0
) -> None:
    """Let the app run until `condition` holds; fail naming `what` otherwise."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; screen is {pilot.app.screen!r}")
        await pilot.pause(0.05)


def screen_text(app: StationApp) -> str:
    """Everything the current screen shows, as plain text (what an operator reads)."""
    from textual.widgets import Static

    parts: list[str] = []
    for widget in app.screen.query(Static):
        parts.append(str(widget.render()))
    return "\n".join(parts)
