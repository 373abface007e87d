"""The approval step as a real operator pair meets it (issue 11): what is approved, who
approved when and the time left, an expiry that changes the screen and is on record, a
refused role that offers to start again, forgiving keys, guarded Esc, tries left."""

from __future__ import annotations

import json
import re

import pytest
from textual.message import Message
from textual.widgets import Input

from station.demo import DEMO_IMAGE, DemoHome
from station.workflow import TransferState
from tests.tui.helpers import insert_and_read, kiosk_app, screen_text, verify_now, wait_until
from tui.messages import ApprovalGiven, ApprovalRefused, ApprovalStateRead, VerificationDone
from tui.screens.aborted import AbortedScreen
from tui.screens.approve import ApproveScreen
from tui.screens.confirm import ConfirmDialog
from tui.screens.done import DoneScreen
from tui.screens.verify import VerifyScreen


def _records(demo: DemoHome, event: str | None = None) -> list[dict[str, object]]:
    lines = (demo.home / "audit.log").read_text(encoding="utf-8").splitlines()
    return [r for r in map(json.loads, lines) if event is None or r["event"] == event]


def _suffix_from_the_form(demo: DemoHome) -> str:
    """What the second operator reads off the paper form: the last two groups, as printed."""
    groups = re.findall(r"\b[0-9a-f]{4}\b", demo.request_form.read_text())
    return f"{groups[-2]} {groups[-1]}"


async def _to_approval(pilot, demo: DemoHome, feed) -> ApproveScreen:  # type: ignore[no-untyped-def]
    await insert_and_read(pilot, feed, demo.media[0])
    await verify_now(pilot)
    await pilot.press("a")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, ApproveScreen)
                     and pilot.app.screen.state is not None, "the approval form")
    return pilot.app.screen  # type: ignore[no-any-return]


async def _form(pilot, *fields: str) -> None:  # type: ignore[no-untyped-def]
    for text in fields:
        await pilot.press(*text, "enter")


def _set_expiry(demo: DemoHome, seconds: float) -> None:
    config = demo.home / "station.toml"
    text = config.read_text().replace("expiry_seconds = 900", f"expiry_seconds = {seconds}")
    config.write_text(text)


async def test_the_form_shows_what_is_approved_who_went_first_and_the_time_left(
    demo: DemoHome,
) -> None:
    app, feed = kiosk_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _to_approval(pilot, demo, feed)
        text = screen_text(app)
        assert "hello-1.0 (channel ops, release 42)" in text
        assert DEMO_IMAGE in text
        assert "•••• ••••" in text, "the digest, its last 8 characters hidden"
        assert "The second approval must come from a verifier or an admin." in text
        assert "No approval yet." in text

        await _form(pilot, "alice", "alice-pin")
        await wait_until(pilot, lambda: screen.state is not None and screen.state.approvals != (),
                         "the first approval")
        text = screen_text(app)
        assert re.search(r"✔ 1 of 2: alice \(operator\) approved \d\d:\d\d:\d\d.*; 1[45]:\d\d left",
                         text), text
        assert "Approval 2 of 2: a verifier or an admin, not alice." in text
        assert screen.query_one("#suffix-row").display


async def test_an_expired_approval_changes_the_screen_and_is_on_record_by_itself(
    demo: DemoHome,
) -> None:
    _set_expiry(demo, 1.5)
    app, feed = kiosk_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _to_approval(pilot, demo, feed)
        await _form(pilot, "alice", "alice-pin")
        await wait_until(pilot, lambda: "1 of 2: alice" in screen_text(app), "alice's approval")
        # Nobody touches a key: the kiosk's own clock notices the expiry.
        await wait_until(pilot, lambda: "EXPIRED" in screen_text(app), "the expiry", timeout=6)
        text = screen_text(app)
        assert "alice's approval expired at" in text
        assert "Approval 1 of 2" in text and not screen.query_one("#suffix-row").display
        expired = _records(demo, "approval-expired")
        assert [(r["actor"], r["order"]) for r in expired] == [("alice", 1)]
        # The next person is the first approver again, not silently the second.
        await _form(pilot, "bob", "bob-pin")
        await wait_until(pilot, lambda: "1 of 2: bob" in screen_text(app), "bob's approval")
    approvals = _records(demo, "approval")
    assert [(r["actor"], r["order"]) for r in approvals] == [("alice", 1), ("bob", 1)]
    assert len(_records(demo, "approval-expired")) == 1, "one record per expiry"


async def test_a_refused_role_offers_to_start_the_approvals_again(demo: DemoHome) -> None:
    app, feed = kiosk_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _to_approval(pilot, demo, feed)
        assert "ctrl+r" not in app.screen.active_bindings, "nothing to start again yet"
        await _form(pilot, "bob", "bob-pin")  # the verifier goes first...
        await wait_until(pilot, lambda: "1 of 2: bob" in screen_text(app), "bob's approval")
        await _form(pilot, "alice", "alice-pin", _suffix_from_the_form(demo))  # ...dead end
        await wait_until(pilot, lambda: "Not approved" in screen_text(app), "the refusal")
        text = screen_text(app)
        assert "alice is an operator; the second approval must come from a verifier" in text
        assert "press Ctrl+R to start the approvals again (bob's approval is dropped" in text
        assert "ctrl+r" in app.screen.active_bindings

        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "are you sure")
        await pilot.press("y")
        await wait_until(pilot, lambda: app.screen is screen and "No approval yet." in
                         screen_text(app), "a fresh start")
        restarted = _records(demo, "approvals-restarted")
        assert [(r["operators"], r["reason"]) for r in restarted] == [
            (["bob"], "the operators started the approvals again after a refused role")]

        await _form(pilot, "alice", "alice-pin")
        await wait_until(pilot, lambda: "1 of 2: alice" in screen_text(app), "alice first")
        await _form(pilot, "bob", "bob-pin", _suffix_from_the_form(demo))
        await wait_until(pilot, lambda: isinstance(app.screen, DoneScreen), "the receipt", 30)


async def test_keys_work_with_caps_lock_and_shift(demo: DemoHome) -> None:
    app, feed = kiosk_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await insert_and_read(pilot, feed, demo.media[0])
        await pilot.press("V")
        await wait_until(pilot, lambda: isinstance(app.screen, VerifyScreen)
                         and app.screen.verification is not None, "the verdict")
        await wait_until(pilot, lambda: "a" in app.screen.active_bindings, "A offered")
        await pilot.press("A")
        await wait_until(pilot, lambda: isinstance(app.screen, ApproveScreen), "approval")
        await _form(pilot, "ALICE", "ALICE-PIN")  # Caps Lock on: name and PIN
        await wait_until(pilot, lambda: "1 of 2: alice" in screen_text(app), "alice's approval")
        await _form(pilot, "BOB", "BOB-PIN", _suffix_from_the_form(demo).upper())
        await wait_until(pilot, lambda: isinstance(app.screen, DoneScreen), "the receipt", 30)


async def test_the_suffix_field_takes_hex_and_spaces_only(demo: DemoHome) -> None:
    app, feed = kiosk_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await _to_approval(pilot, demo, feed)
        await _form(pilot, "alice", "alice-pin")
        await wait_until(pilot, lambda: "1 of 2: alice" in screen_text(app), "alice's approval")
        suffix = app.screen.query_one("#suffix", Input)
        suffix.focus()
        await pilot.press(*"xyz-Ω72FF 707Cg")
        assert suffix.value == "72FF 707C", "only hex digits and spaces go in, nothing is cut"


async def test_escape_asks_before_it_throws_the_transfer_away(demo: DemoHome) -> None:
    app, feed = kiosk_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _to_approval(pilot, demo, feed)
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "are you sure")
        assert "Cancel this transfer?" in screen_text(app)
        await pilot.press("enter")  # the dialog starts on "No": Enter alone changes nothing
        await wait_until(pilot, lambda: app.screen is screen, "back at the form")
        assert app.transfer is not None and app.transfer.state is TransferState.VERIFIED
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "are you sure")
        await pilot.press("Y")
        await wait_until(pilot, lambda: isinstance(app.screen, AbortedScreen), "the abort")
        assert "Remove the media." in screen_text(app)
        assert "enter" not in app.screen.active_bindings, "one instruction: remove the media"
        feed.remove_current()
        await wait_until(pilot, lambda: type(app.screen).__name__ == "WaitingScreen", "start")
    assert _records(demo, "abort")[0]["reason"] == "the operators cancelled at the approval step"


async def test_wrong_pins_count_down_then_lock_and_the_form_starts_over(demo: DemoHome) -> None:
    app, feed = kiosk_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await _to_approval(pilot, demo, feed)
        for left in (4, 3, 2, 1):
            await _form(pilot, "alice", "wrong-pin")
            word = "try" if left == 1 else "tries"
            await wait_until(pilot, lambda left=left, word=word: f"{left} {word} left"
                             in screen_text(app), f"{left} tries left")
            assert app.focused is app.screen.query_one("#username")
            assert all(field.value == "" for field in app.screen.query(Input))
        await _form(pilot, "alice", "wrong-pin")
        await wait_until(pilot, lambda: "now locked" in screen_text(app), "the lock")
        assert "unlock it on the kiosk's admin screen" in screen_text(app), "no shell needed"


async def test_typed_messages_carry_each_result(demo: DemoHome) -> None:
    seen: list[type[Message]] = []
    app, feed = kiosk_app(demo)
    async with app.run_test(size=(80, 24), message_hook=lambda m: seen.append(type(m))) as pilot:
        await _to_approval(pilot, demo, feed)
        await _form(pilot, "alice", "nope-nope")
        await wait_until(pilot, lambda: ApprovalRefused in seen, "the refusal")
        await _form(pilot, "alice", "alice-pin")
        await wait_until(pilot, lambda: ApprovalGiven in seen, "the approval")
    assert VerificationDone in seen and ApprovalStateRead in seen


@pytest.fixture
def imported_once(demo: DemoHome) -> DemoHome:
    """The genuine demo bundle, imported once already (as the CLI or an earlier shift did)."""
    from station.station import Station

    station = Station.open(demo.home)
    transfer = station.new_transfer(demo.media[0].source)
    transfer.inspect()
    verification = transfer.verify()
    transfer.approve("alice", "alice-pin")
    transfer.approve("bob", "bob-pin", verification.bundle_digest[-8:])
    transfer.import_into(station.targets()[0])
    return demo


async def test_a_bundle_imported_before_needs_a_confirmation_on_record(
    imported_once: DemoHome, monkeypatch: pytest.MonkeyPatch
) -> None:
    demo = imported_once
    app, feed = kiosk_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await insert_and_read(pilot, feed, demo.media[0])
        await verify_now(pilot)
        await wait_until(pilot, lambda: "Already imported" in screen_text(app), "the notice")
        text = screen_text(app)
        assert "Already imported 1 time:" in text
        assert "into store, approved by alice and bob" in text
        assert "A to approve again (you will be asked to confirm)" in text
        await pilot.press("a")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "are you sure")
        assert "Import this bundle again?" in screen_text(app)
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, VerifyScreen), "back")
        assert not _records(demo, "reimport-confirmed")
        await pilot.press("a")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "are you sure")
        await pilot.press("y")
        await wait_until(pilot, lambda: isinstance(app.screen, ApproveScreen), "approval")
    (confirmed,) = _records(demo, "reimport-confirmed")
    assert confirmed["previous"][0]["approvers"] == ["alice", "bob"]  # type: ignore[index]
    assert confirmed["previous"][0]["target"] == "store"  # type: ignore[index]
