"""80x24 and 16 colours, the audit viewer, the admin screen and the wording (issue 11):
every pane scrolls and says so, the palette reads on a Linux console, toasts leave the
next-step line alone, no typed name that matches no account is ever recorded."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from textual.color import Color
from textual.widgets import DataTable, Input, OptionList

from station.approval import OperatorStore
from station.demo import DemoHome
from tests.tui.helpers import (
    insert_and_read,
    kiosk_app,
    lock_account,
    screen_text,
    verify_now,
    wait_until,
)
from tui.app import StationApp
from tui.screens.admin import AdminLoginScreen, AdminScreen
from tui.screens.audit import AuditRecordScreen, AuditScreen
from tui.screens.confirm import ConfirmDialog
from tui.screens.contents import ContentsScreen
from tui.screens.done import DoneScreen
from tui.screens.waiting import WaitingScreen
from tui.widgets.scroll_pane import ScrollPane
from tui.widgets.status_view import StationStatusView
from tui.widgets.verdict_badge import VerdictBadge


@pytest.fixture
def berlin(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A local time zone that is not UTC, so that "local time with UTC beside it" shows."""
    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def _records(demo: DemoHome, event: str | None = None) -> list[dict[str, object]]:
    lines = (demo.home / "audit.log").read_text(encoding="utf-8").splitlines()
    return [r for r in map(json.loads, lines) if event is None or r["event"] == event]


async def _sign_in(pilot, name: str, pin: str) -> None:  # type: ignore[no-untyped-def]
    await pilot.press("a")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, AdminLoginScreen), "sign-in")
    await pilot.press(*name, "enter", *pin, "enter")


async def _imported(pilot, demo: DemoHome, feed) -> None:  # type: ignore[no-untyped-def]
    app = pilot.app
    await insert_and_read(pilot, feed, demo.media[0])
    await verify_now(pilot)
    await pilot.press("a")
    digest = app.transfer.verification.bundle_digest
    await wait_until(pilot, lambda: type(app.screen).__name__ == "ApproveScreen", "approval")
    await pilot.press(*"alice", "enter", *"alice-pin", "enter")
    await wait_until(pilot, lambda: "1 of 2: alice" in screen_text(app), "first approval")
    await pilot.press(*"bob", "enter", *"bob-pin", "enter", *digest[-8:], "enter")
    await wait_until(pilot, lambda: isinstance(app.screen, DoneScreen), "the receipt", 30)


# -- 80x24 ----------------------------------------------------------------------------------


async def test_at_80x24_the_receipt_scrolls_with_the_keys_and_says_there_is_more(
    demo: DemoHome,
) -> None:
    app, feed = kiosk_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await _imported(pilot, demo, feed)
        pane = app.screen.query_one("#receipt", ScrollPane)
        await wait_until(pilot, lambda: pane.border_subtitle != "", "the cue")
        assert app.focused is pane, "the arrows reach the receipt without Tab"
        assert str(pane.border_subtitle) == "▼ more below: ↓ PgDn"
        await pilot.press("pagedown", "pagedown", "pagedown")
        await wait_until(pilot, lambda: pane.scroll_y == pane.max_scroll_y > 0, "the end")
        assert str(pane.border_subtitle) == "▲ more above: ↑ PgUp"
        assert "Approved by: alice (operator), bob (verifier)" in screen_text(app)


async def test_at_80x24_image_details_scroll_with_pgdn_while_the_tree_keeps_the_arrows(
    demo: DemoHome,
) -> None:
    app, feed = kiosk_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await insert_and_read(pilot, feed, demo.media[0])
        await pilot.press("down", "down", "down")  # the image
        pane = app.screen.query_one("#detail-pane", ScrollPane)
        await wait_until(pilot, lambda: "more below" in str(pane.border_subtitle), "the cue")
        tree = app.screen.query_one("#bundle-tree")
        await pilot.press("pagedown")
        await wait_until(pilot, lambda: pane.scroll_y > 0, "the details scrolled")
        assert app.focused is tree, "the tree keeps the focus and the arrows"
        assert "Created: 2026-01-01" in screen_text(app)
        assert "PgUp/PgDn scroll its details" in screen_text(app)


async def test_toasts_never_cover_the_next_step_line(demo: DemoHome) -> None:
    app, feed = kiosk_app(demo)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await insert_and_read(pilot, feed, demo.media[0])
        app.notify("Other media was inserted while a transfer is running; it is ignored.",
                   severity="warning")
        await wait_until(pilot, lambda: bool(app.screen.query("Toast")), "the toast")
        toast = app.screen.query_one("Toast")
        line = app.screen.query_one(".next-action")
        assert not toast.region.overlaps(line.region), (toast.region, line.region)
        assert toast.region.y <= 2, "toasts sit at the top, under the step header"


# -- 16 colours -----------------------------------------------------------------------------


def _ansi(color: Color) -> int | None:
    return color.ansi


async def test_the_palette_uses_ansi_colours_with_a_word_for_every_state(demo: DemoHome) -> None:
    app, feed = kiosk_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.current_theme.ansi, "ANSI colour numbers, not RGB a console would remap"
        await insert_and_read(pilot, feed, demo.media[1])  # the tampered bundle
        await verify_now(pilot)
        badge = app.screen.query_one(VerdictBadge)
        assert str(badge.render()) == "✘ REJECTED"
        assert _ansi(badge.styles.background) == 1, "rejected on red"
        footer_key = app.screen.query_one("FooterKey")
        assert _ansi(footer_key.styles.color) not in (1, 9), "red means danger, not a key"
        feed.remove_current()
        await wait_until(pilot, lambda: isinstance(app.screen, WaitingScreen), "the start")
        await insert_and_read(pilot, feed, demo.media[0])
        await verify_now(pilot)
        badge = app.screen.query_one(VerdictBadge)
        assert str(badge.render()) == "✔ ACCEPTED" and _ansi(badge.styles.background) == 2
        feed.remove_current()  # pulled before the approvals: the transfer is aborted
        await wait_until(pilot, lambda: type(app.screen).__name__ == "AbortedScreen", "abort")
        badge = app.screen.query_one(VerdictBadge)
        assert str(badge.render()) == "■ ABORTED"
        assert _ansi(badge.styles.color) == 11 and _ansi(badge.styles.background) == 0, (
            "aborted in yellow on black, never the rejected colours")


# -- the audit viewer -----------------------------------------------------------------------


async def test_the_audit_viewer_reads_in_sentences_filters_and_shows_one_record(
    demo: DemoHome, berlin: None
) -> None:
    app, feed = kiosk_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await _imported(pilot, demo, feed)
        feed.remove_current()
        await wait_until(pilot, lambda: isinstance(app.screen, WaitingScreen), "the start")
        await _sign_in(pilot, "admin", "admin-pin")
        await wait_until(pilot, lambda: isinstance(app.screen, AdminScreen), "admin screen")
        await pilot.press("l")
        await wait_until(pilot, lambda: isinstance(app.screen, AuditScreen)
                         and app.screen.rows != [], "the records")
        screen = app.screen
        sentences = [row.sentence for row in screen.rows]
        assert "alice approved bundle hello-1.0 (1 of 2)" in sentences
        assert "bob approved bundle hello-1.0 (2 of 2)" in sentences
        assert "bundle hello-1.0 ACCEPTED, signed by demo-release" in sentences
        assert "bundle hello-1.0 IMPORTED into store" in sentences
        assert 'media inserted: media folder "TRANSFER-0042"' in sentences
        assert not any("{'" in s or "[" in s for s in sentences), "no raw dumps"
        row = screen.rows[0]
        local, utc = int(row.local[6:8]), int(row.utc[:2])
        assert (local - utc) % 24 in (1, 2), "local (Berlin) time with UTC beside it"

        screen.query_one("#filter-operator", Input).value = "ali"
        await wait_until(pilot, lambda: {r.record.get("actor") for r in screen.rows}
                         == {"alice"}, "alice's records only")
        screen.query_one("#filter-operator", Input).value = ""
        screen.query_one("#filter-kind").value = "media"  # type: ignore[attr-defined]
        await wait_until(pilot, lambda: screen.rows != [] and all(
            str(r.record["event"]).startswith("media-") for r in screen.rows), "media only")
        screen.query_one("#filter-kind").value = "approvals"  # type: ignore[attr-defined]
        screen.query_one("#filter-bundle", Input).value = "hello"
        await wait_until(pilot, lambda: len(screen.rows) == 2, "the two approvals")

        table = screen.query_one(DataTable)
        table.focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, AuditRecordScreen), "detail")
        text = screen_text(app)
        assert "digest: sha256:" in text, "the full digest, nothing cut off"
        assert "UTC)" in text and "verification:" in text
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is screen, "back to the list")


# -- the admin screen, the one credentials rule ---------------------------------------------


async def test_an_admin_sees_locked_accounts_and_unlocks_one_on_record(demo: DemoHome) -> None:
    lock_account(demo, "alice")
    operators = OperatorStore(demo.home / "operators.toml")
    app, _ = kiosk_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await _sign_in(pilot, "ADMIN", "admin-pin")  # Caps Lock on, still the admin
        await wait_until(pilot, lambda: isinstance(app.screen, AdminScreen), "admin screen")
        listing = app.screen.query_one("#locked-list", OptionList)
        await wait_until(pilot, lambda: listing.option_count == 1, "the locked account")
        assert "alice (operator): locked after 5 wrong PINs" in str(
            listing.get_option_at_index(0).prompt)
        await pilot.press("u")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "are you sure")
        await pilot.press("y")
        await wait_until(pilot, lambda: "alice unlocked" in screen_text(app), "unlocked")
        assert "None: every account can sign in." in screen_text(app)
    assert not operators.get("alice").locked  # type: ignore[union-attr]
    (record,) = [r for r in _records(demo, "admin-action") if r["action"] == "operator-unlocked"]
    assert (record["actor"], record["operator"]) == ("admin", "alice")


async def test_a_failed_sign_in_empties_the_form_and_never_records_an_unknown_name(
    demo: DemoHome,
) -> None:
    app, _ = kiosk_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await _sign_in(pilot, "my-pin-zqxw", "admin-pin")  # the PIN typed into the name field
        await wait_until(pilot, lambda: "unknown operator or wrong PIN" in screen_text(app),
                         "the refusal")
        assert app.focused is app.screen.query_one("#admin-user")
        assert [f.value for f in app.screen.query(Input)] == ["", ""]
        await pilot.press(*"admin", "enter", *"admin-pin", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, AdminScreen), "admin screen")
    log = (demo.home / "audit.log").read_text(encoding="utf-8")
    assert "zqxw" not in log
    failed = _records(demo, "login-failed")
    assert [(r["actor"], r["code"]) for r in failed] == [(None, "unknown-operator")]


# -- wording ---------------------------------------------------------------------------------


async def test_the_wording_list(demo: DemoHome, berlin: None) -> None:
    app, feed = kiosk_app(demo)
    async with app.run_test(size=(120, 40)) as pilot:
        view = app.screen.query_one(StationStatusView)
        await wait_until(pilot, lambda: "audit log healthy" in str(view.render()), "status")
        assert "(1 record)" in str(view.render())
        assert "The paper the operators hold" in screen_text(app)
        assert "72ff" in demo.request_form.read_text() or "Bundle digest" in screen_text(app)

        await insert_and_read(pilot, feed, demo.media[0])
        text = screen_text(app)
        assert "Manifest: bundle.json (signed bundle manifest)" in text
        assert "(bundle.json)" not in text
        await pilot.press("down", "down", "down", "down", "down", "down", "down", "down")
        await wait_until(pilot, lambda: "File: files/transfer-request.txt" in screen_text(app)
                         or "SBOM (software bill of materials)" in screen_text(app), "item")
        assert "image-archive:" not in screen_text(app) and "sbom:" not in screen_text(app)

        await verify_now(pilot)
        await pilot.press("a")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "ApproveScreen", "approval")
        await pilot.press(*"alice", "enter", *"alice-pin", "enter")
        await wait_until(pilot, lambda: "1 of 2: alice" in screen_text(app), "first approval")
        feed.remove_current()
        await wait_until(pilot, lambda: "during the approvals (1 of 2 given)" in screen_text(app),
                         "when the media went")
        assert "before the approvals" not in screen_text(app)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, WaitingScreen), "the start")
        await wait_until(pilot, lambda: "aborted hello-1.0" in str(view.render()), "history")
        assert "UTC)" in str(view.render()), "local time with UTC beside it"


async def test_the_waiting_screen_never_says_insert_while_media_is_being_read(
    demo: DemoHome,
) -> None:
    app, feed = kiosk_app(demo)
    states: list[bool] = []
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        assert isinstance(screen, WaitingScreen)
        line = screen.query_one("#insert-line")
        assert str(line.render()) == "Insert the transfer media (USB stick)."
        screen.watch(screen, "reading", lambda value: states.append(value), init=False)
        feed.insert(demo.media[0])
        await wait_until(pilot, lambda: isinstance(app.screen, ContentsScreen), "contents")
        assert states == [True, False], "reading while the transfer opened, then the contents"
        screen.reading = True
        await pilot.pause()
        assert str(line.render()) == "Media inserted: reading it… Leave it in."


async def test_the_demo_quit_is_on_record(demo: DemoHome) -> None:
    app, _ = kiosk_app(demo, kiosk=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: not app.is_running, "the quit")
    (quit_record,) = [r for r in _records(demo, "admin-action") if r["action"] == "quit-demo"]
    assert quit_record["actor"]


def test_the_app_is_built_on_the_station_16_theme() -> None:
    from tui.theme import STATION_THEME

    assert STATION_THEME.ansi and StationApp.ENABLE_COMMAND_PALETTE is False
