"""Driving the kiosk in tests: build it on a real demo station, wait for screens."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

from textual.pilot import Pilot

from station.demo import DemoFeed, DemoHome, DemoMedia
from station.media.folder import FolderMediaSource
from station.station import Station
from tui.app import StationApp
from tui.screens.contents import ContentsScreen
from tui.screens.verify import VerifyScreen


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
    """Let the app run until `condition` holds; fail naming `what` otherwise.

    Then let pending messages run once more: a screen that was just pushed composes and
    mounts its widgets on the next turns of the loop, and callers read its text right away.
    """
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; screen is {pilot.app.screen!r}")
        await pilot.pause(0.05)
    await pilot.pause()


async def insert_and_read(pilot: Pilot[None], feed: DemoFeed, media: DemoMedia) -> None:
    """Put the media in and wait until the contents screen shows its bundle."""
    app = pilot.app
    feed.insert(media)
    await wait_until(pilot, lambda: isinstance(app.screen, ContentsScreen)
                     and app.screen.bundle is not None, "the bundle's contents")


async def verify_now(pilot: Pilot[None]) -> None:
    """Press V on the contents screen and wait for the verdict."""
    app = pilot.app
    await pilot.press("v")
    await wait_until(pilot, lambda: isinstance(app.screen, VerifyScreen)
                     and app.screen.verification is not None, "the verdict")


def copy_demo(template: DemoHome, root: Path) -> DemoHome:
    """A private copy of a built demo station (building one takes a second)."""
    shutil.copytree(template.root, root)
    media = tuple(
        DemoMedia(m.name, root / m.source.relative_to(template.root), m.description)
        for m in template.media
    )
    return DemoHome(root=root, home=root / "home", media_dir=root / "media", media=media)


def lock_account(demo: DemoHome, name: str) -> None:
    """Type wrong PINs for `name` until its account locks, as a forgetful operator would."""
    from station.approval import ApprovalError, OperatorStore

    operators = OperatorStore(demo.home / "operators.toml")
    while not operators.get(name).locked:  # type: ignore[union-attr]
        try:
            operators.authenticate(name, "wrong-pin")
        except ApprovalError:
            continue


def screen_text(app: StationApp) -> str:
    """Everything the current screen shows, as plain text (what an operator reads)."""
    from textual.widgets import Static

    parts: list[str] = []
    for widget in app.screen.query(Static):
        parts.append(str(widget.render()))
    return "\n".join(parts)
