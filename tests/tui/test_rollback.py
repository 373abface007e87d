"""Pilot tests: an older release is refused, and only an admin's audited override lets it in."""

from __future__ import annotations

import json

import pytest

from station.audit import AuditLog
from station.demo import DemoHome, DemoMedia
from station.publish.bundle import create_bundle
from station.station import Station
from tests.tui.helpers import insert_and_read, kiosk_app, screen_text, verify_now, wait_until
from tui.app import StationApp
from tui.screens.override import RollbackOverrideScreen
from tui.screens.verify import VerifyScreen


def _bundle(demo: DemoHome, sequence: int) -> DemoMedia:
    """A signed bundle of channel `ops` with this sequence number, made with the demo key."""
    notes = demo.root / "notes.txt"
    notes.write_text(f"release notes, sequence {sequence}\n", encoding="utf-8")
    out = demo.root / "prepared" / f"OPS-{sequence}"
    create_bundle(out, secret_key=demo.root / "producer-keys" / "demo-release.key",
                  files=[notes], name="ops-notes", channel="ops", sequence=sequence)
    return DemoMedia(out.name, out, f"channel ops, sequence {sequence}")


@pytest.fixture
def protected(demo: DemoHome) -> DemoHome:
    """The demo station with rollback protection, after sequence 5 of `ops` was imported."""
    config = demo.home / "station.toml"
    config.write_text(config.read_text(encoding="utf-8")
                      + "\n[policy]\nrollback_protection = true\n", encoding="utf-8")
    station = Station.open(demo.home)
    transfer = station.new_transfer(_bundle(demo, 5).source)
    transfer.inspect()
    verification = transfer.verify()
    assert verification.accepted, verification.problems
    transfer.approve("alice", "alice-pin")
    transfer.approve("bob", "bob-pin", verification.bundle_digest[-8:])
    transfer.import_into(station.targets()[0])
    return demo


def _records(demo: DemoHome, event: str) -> list[dict[str, object]]:
    lines = (demo.home / "audit.log").read_text(encoding="utf-8").splitlines()
    return [r for r in map(json.loads, lines) if r["event"] == event]


def _offers_override(app: StationApp) -> bool:
    """What the footer shows: a binding that check_action hides is not active."""
    return "o" in app.screen.active_bindings


async def _fill(pilot, name: str, pin: str, reason: str) -> None:  # type: ignore[no-untyped-def]
    for field, text in (("#override-user", name), ("#override-pin", pin),
                        ("#override-reason", reason)):
        pilot.app.screen.query_one(field).value = ""
        pilot.app.screen.query_one(field).focus()
        await pilot.press(*text, "enter")


async def test_older_release_needs_an_admin_override_with_a_reason(protected: DemoHome) -> None:
    app, feed = kiosk_app(protected)
    async with app.run_test(size=(120, 40)) as pilot:
        await insert_and_read(pilot, feed, _bundle(protected, 4))
        await verify_now(pilot)
        first = app.screen
        assert isinstance(first, VerifyScreen)
        assert [p.code for p in first.verification.problems] == ["rollback"]  # type: ignore[union-attr]
        assert "REJECTED" in screen_text(app)
        assert "an admin presses O" in screen_text(app)
        assert _offers_override(app)
        assert "a" not in app.screen.active_bindings  # no approval of a rejected bundle

        await pilot.press("o")
        await wait_until(pilot, lambda: isinstance(app.screen, RollbackOverrideScreen), "dialog")
        assert "sequence 4" in screen_text(app)

        await _fill(pilot, "admin", "wrong-pin", "vendor re-issued release 4")
        await wait_until(pilot, lambda: "Not accepted" in screen_text(app), "the refusal")
        assert "wrong PIN" in screen_text(app)
        await _fill(pilot, "bob", "bob-pin", "vendor re-issued release 4")
        await wait_until(pilot, lambda: "may not override" in screen_text(app), "the refusal")
        await _fill(pilot, "admin", "admin-pin", "")
        await wait_until(pilot, lambda: "needs a reason" in screen_text(app), "the refusal")
        assert isinstance(app.screen, RollbackOverrideScreen)
        assert "admin-pin" not in screen_text(app)  # the PIN is never shown

        await _fill(pilot, "admin", "admin-pin", "vendor re-issued release 4")
        await wait_until(pilot, lambda: isinstance(app.screen, VerifyScreen)
                         and app.screen is not first
                         and app.screen.verification is not None, "the new verdict")
        assert app.screen.verification.accepted  # type: ignore[attr-defined]
        assert "ACCEPTED" in screen_text(app)
        assert not _offers_override(app)

    overrides = _records(protected, "policy-override")
    assert [(r["actor"], r["reason"]) for r in overrides] == [
        ("admin", "vendor re-issued release 4")]
    assert overrides[0]["overridden"][0]["code"] == "rollback"  # type: ignore[index]
    refused = [(r["actor"], r["reason"]) for r in _records(protected, "step-refused")
               if r.get("step") == "override"]
    assert refused == [
        ("admin", "wrong PIN for admin: 4 tries left before the account locks"),
        ("bob", "bob may not override the policy"),
        ("admin", "an override needs a reason for the audit log"),
    ]
    assert AuditLog(protected.home / "audit.log").verify().ok


def _older_and_tampered(demo: DemoHome) -> DemoMedia:
    """Sequence 4 with one byte of its file changed after signing: two reasons to refuse."""
    media = _bundle(demo, 4)
    changed = media.source / "files" / "notes.txt"
    data = bytearray(changed.read_bytes())
    data[0] ^= 0x01
    changed.write_bytes(bytes(data))
    return media


@pytest.mark.parametrize("which", ["tampered", "older and tampered"])
async def test_other_rejections_offer_no_override(protected: DemoHome, which: str) -> None:
    media = protected.media[1] if which == "tampered" else _older_and_tampered(protected)
    app, feed = kiosk_app(protected)
    async with app.run_test(size=(120, 40)) as pilot:
        await insert_and_read(pilot, feed, media)
        await verify_now(pilot)
        assert "REJECTED" in screen_text(app)
        codes = {p.code for p in app.screen.verification.problems}  # type: ignore[attr-defined]
        assert ("rollback" in codes) is (which != "tampered")
        assert not _offers_override(app)
        assert "Remove the media. Nothing from it will be imported." in screen_text(app)
        await pilot.press("o")
        await pilot.pause(0.2)
        assert isinstance(app.screen, VerifyScreen)
    assert _records(protected, "policy-override") == []
