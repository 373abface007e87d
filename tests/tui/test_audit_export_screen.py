"""The admin's audit export screen: reached with E from the admin screen, lists USB sticks,
checks the day typed, and says why nothing was written when the station has no key."""

from __future__ import annotations

from station.demo import DemoHome
from station.media.events import DeviceInfo
from tests.tui.helpers import kiosk_app, screen_text, wait_until
from tui.screens.admin import AdminLoginScreen, AdminScreen
from tui.screens.audit_export import AuditExportScreen


async def test_export_screen_from_the_admin_screen(demo: DemoHome) -> None:
    app, _ = kiosk_app(demo)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("a")
        await wait_until(pilot, lambda: isinstance(app.screen, AdminLoginScreen), "login")
        await pilot.press(*"admin", "enter", *"admin-pin", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, AdminScreen), "admin screen")
        await pilot.press("e")
        await wait_until(pilot, lambda: isinstance(app.screen, AuditExportScreen)
                         and "No USB stick found" in screen_text(app), "the export screen")
        screen = app.screen
        assert isinstance(screen, AuditExportScreen)
        await pilot.press("w")
        await wait_until(pilot, lambda: "Choose a stick first" in screen_text(app), "refusal")

        stick = DeviceInfo(device="/dev/sdz1", bus="usb", vendor="SanDisk", fs_type="ext4",
                           label="EXPORT", size=8 << 30)
        screen.post_message(AuditExportScreen.SticksListed([stick]))
        await wait_until(pilot, lambda: "Choose a stick and press W" in screen_text(app),
                         "the stick listed")
        from textual.widgets import OptionList

        listed = screen.query_one("#export-sticks", OptionList)
        assert listed.option_count == 1 and "/dev/sdz1" in str(listed.get_option_at_index(0).prompt)
        listed.highlighted = 0
        since = screen.query_one("#export-since")
        since.value = "last week"  # type: ignore[attr-defined]
        since.focus()
        await pilot.press("enter")  # Enter in the day field moves on to the list
        await pilot.press("w")
        await wait_until(pilot, lambda: "is not a day" in screen_text(app), "bad day")
        since.value = "2026-01-01"  # type: ignore[attr-defined]
        await pilot.press("w")
        await wait_until(pilot, lambda: "no signing key" in screen_text(app), "no key")
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, AdminScreen), "back")
