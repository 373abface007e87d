"""Text from the media or a USB device is shown to the operators, never obeyed by the screen.

Textual hands an escape character inside a `Text` straight to the terminal, so a label
holding `ESC [2J` could wipe the console and draw a fake verdict; markup in a device name
could restyle the notice. Every such string must reach the screen escaped and literal.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from textual.widgets import Static

from station.demo import DemoHome, DemoMedia
from station.media.events import DeviceInfo, MediaCallback, MediaRefused
from station.publish.bundle import create_bundle
from station.publish.imagebuild import build_oci_layout, write_oci_archive
from station.station import Station
from tests.tui.helpers import insert_and_read, kiosk_app, wait_until
from tui.app import StationApp
from tui.safe_text import SafeText
from tui.widgets.bundle_tree import BundleTree

CLEAR_AND_FAKE = "\x1b[2J\x1b[H[bold green]✔ ACCEPTED[/]"
BACKWARDS = "invoice\u202etxt.exe"


def test_safe_text_escapes_controls_when_built_and_when_appended() -> None:
    text = SafeText(CLEAR_AND_FAKE)
    text.append(BACKWARDS)
    text.append(SafeText("\x07bell"))
    assert "\x1b" not in text.plain and "\u202e" not in text.plain and "\x07" not in text.plain
    assert text.plain == (
        "\\u001b[2J\\u001b[H[bold green]✔ ACCEPTED[/]invoice\\u202etxt.exe\\u0007bell"
    )


@pytest.fixture
def labelled_media(demo: DemoHome, tmp_path: Path) -> DemoMedia:
    """A genuine signed bundle whose image carries hostile labels (labels are free text)."""
    layout = tmp_path / "layout"
    build_oci_layout(layout, "registry.example.org/demo/app:1", {"hello.txt": b"hi\n"},
                     labels={"title": CLEAR_AND_FAKE, "file": BACKWARDS})
    archive = tmp_path / "app.oci.tar"
    write_oci_archive(layout, archive)
    media = DemoMedia("LABELS", tmp_path / "LABELS", "an image with hostile labels")
    create_bundle(media.source, secret_key=demo.root / "producer-keys" / "demo-release.key",
                  image_archives=[archive], name="labels", producer="test")
    return media


async def test_hostile_image_labels_are_shown_escaped_in_the_details(
    demo: DemoHome, labelled_media: DemoMedia
) -> None:
    app, feed = kiosk_app(demo)
    async with app.run_test(size=(120, 40)) as pilot:
        await insert_and_read(pilot, feed, labelled_media)
        tree = app.screen.query_one(BundleTree)
        tree.focus()
        detail = app.screen.query_one("#detail", Static)
        for _ in range(12):
            if "Label title=" in str(detail.render()):
                break
            await pilot.press("down")
        shown = str(detail.render())
        assert "Label title=\\u001b[2J\\u001b[H[bold green]✔ ACCEPTED[/]" in shown
        assert "Label file=invoice\\u202etxt.exe" in shown
        assert "\x1b" not in shown and "\u202e" not in shown


class HostileDevice:
    """A USB device whose descriptor strings hold an escape sequence and markup."""

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None

    def start(self, callback: MediaCallback) -> None:
        device = DeviceInfo(device="/dev/input/event9", bus="usb", vendor=CLEAR_AND_FAKE,
                            model="[reverse]Keyboard")
        event = MediaRefused(device, "a keyboard (HID), not storage")
        self._thread = threading.Thread(target=callback, args=(event,))
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._thread.join()


async def test_a_hostile_device_name_is_shown_literally_in_the_notice(demo: DemoHome) -> None:
    app = StationApp(Station.open(demo.home), HostileDevice())
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: bool(app._notifications), "the notice")
        (notice,) = list(app._notifications)
        assert not notice.markup, "device names must not be read as markup"
        assert "\x1b" not in notice.message
        assert "\\u001b[2J" in notice.message and "[reverse]Keyboard" in notice.message
        await app.workers.wait_for_complete()
