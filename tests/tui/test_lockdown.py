"""Kiosk lockdown: no quit key, no command palette; only an admin login leads out."""

from __future__ import annotations

from textual.command import CommandPalette

from station.demo import DemoHome
from tests.tui.helpers import kiosk_app, screen_text, wait_until
from tui.app import StationApp
from tui.screens.admin import AdminLoginScreen, AdminScreen, AuditScreen
from tui.screens.confirm import ConfirmDialog
from tui.screens.waiting import WaitingScreen


async def _login(pilot, name: str, pin: str) -> None:  # type: ignore[no-untyped-def]
    await pilot.press("a")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, AdminLoginScreen), "login")
    await pilot.press(*name, "enter", *pin, "enter")


def test_kiosk_app_has_no_palette_and_no_inherited_quit_binding() -> None:
    assert StationApp.ENABLE_COMMAND_PALETTE is False
    keys = {binding.key for binding in StationApp.BINDINGS}  # type: ignore[union-attr]
    assert "ctrl+q" not in keys


async def test_quit_keys_and_palette_do_nothing_in_kiosk_mode(demo: DemoHome) -> None:
    app, _ = kiosk_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        for key in ("ctrl+q", "ctrl+c", "ctrl+p", "escape", "q"):
            await pilot.press(key)
            await pilot.pause(0.05)
        assert app.is_running
        assert isinstance(app.screen, WaitingScreen)
        assert not any(isinstance(s, CommandPalette) for s in app.screen_stack)


async def test_demo_mode_quits_with_ctrl_q(demo: DemoHome) -> None:
    app, _ = kiosk_app(demo, kiosk=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+q")
        await pilot.pause(0.1)
        assert not app.is_running


async def test_operator_cannot_log_in_as_admin_and_failures_are_audited(demo: DemoHome) -> None:
    app, _ = kiosk_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await _login(pilot, "alice", "alice-pin")
        await wait_until(pilot, lambda: "alice is not an admin" in screen_text(app), "refusal")
        await pilot.press("escape")
        await _login(pilot, "admin", "wrong-pin")
        await wait_until(pilot, lambda: "wrong PIN" in screen_text(app), "refusal")
        assert isinstance(app.screen, AdminLoginScreen)
    log = (demo.home / "audit.log").read_text(encoding="utf-8")
    assert log.count('"event":"login-failed"') == 2


async def test_admin_sees_the_audit_log_and_is_the_only_way_out(demo: DemoHome) -> None:
    app, _ = kiosk_app(demo)
    async with app.run_test(size=(120, 40)) as pilot:
        await _login(pilot, "admin", "admin-pin")
        await wait_until(pilot, lambda: isinstance(app.screen, AdminScreen), "admin screen")
        await pilot.press("l")
        await wait_until(pilot, lambda: isinstance(app.screen, AuditScreen)
                         and "Hash chain intact" in screen_text(app), "the audit viewer")
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, AdminScreen), "admin screen")
        await pilot.press("q")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "are you sure")
        await pilot.press("n")  # one key never stops the station
        await wait_until(pilot, lambda: isinstance(app.screen, AdminScreen), "admin screen")
        assert app.is_running
        await pilot.press("Q")  # Shift or Caps Lock: the same key
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "are you sure")
        await pilot.press("Y")
        await wait_until(pilot, lambda: not app.is_running, "the app to exit")
    log = (demo.home / "audit.log").read_text(encoding="utf-8")
    assert '"action":"quit-kiosk"' in log and '"actor":"admin"' in log
