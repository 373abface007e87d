"""Pilot tests: the kiosk driven with keys through real transfers on a real demo station."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.message import Message
from textual.widgets import Input
from textual.widgets.tree import TreeNode

from station.demo import DEMO_IMAGE, DemoHome, DemoMedia
from station.progress import Progress
from station.publish.bundle import create_bundle
from station.workflow import TransferState
from tests.tui.helpers import insert_and_read, kiosk_app, screen_text, verify_now, wait_until
from tui.messages import WorkProgress
from tui.screens.aborted import AbortedScreen
from tui.screens.approve import ApproveScreen
from tui.screens.confirm import ConfirmDialog
from tui.screens.done import DoneScreen
from tui.screens.verify import VerifyScreen
from tui.screens.waiting import WaitingScreen
from tui.widgets.bundle_tree import BundleTree


async def _type(pilot, text: str) -> None:  # type: ignore[no-untyped-def]
    await pilot.press(*text)
    await pilot.press("enter")


async def _approve(pilot, name: str, pin: str, suffix: str | None = None) -> None:  # type: ignore[no-untyped-def]
    await _type(pilot, name)
    await _type(pilot, pin)
    if suffix is not None:
        await _type(pilot, suffix)


def _labels(node: TreeNode[object]) -> Iterator[str]:
    yield str(node.label)
    for child in node.children:
        yield from _labels(child)


def _audit_events(demo: DemoHome) -> list[str]:
    lines = (demo.home / "audit.log").read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["event"] for line in lines]


async def test_full_transfer_of_a_genuine_bundle(demo: DemoHome) -> None:
    app, feed = kiosk_app(demo)
    async with app.run_test(size=(120, 40)) as pilot:
        assert isinstance(app.screen, WaitingScreen)
        await insert_and_read(pilot, feed, demo.media[0])
        labels = list(_labels(app.screen.query_one(BundleTree).root))
        assert "Images (1)" in labels and "SBOMs (1)" in labels and "Files (1)" in labels
        assert f"{DEMO_IMAGE}  626 B" in labels, "the image with its whole size"
        assert "1 layer, 298 B" in labels, "the layers line counts the layers' bytes only"
        assert "platform linux/amd64" in labels

        await verify_now(pilot)
        text = screen_text(app)
        assert "ACCEPTED" in text
        assert "demo-release" in text
        digest = app.screen.verification.bundle_digest
        assert " ".join(digest.removeprefix("sha256:")[i:i + 4] for i in (0, 4)) in text

        await pilot.press("a")
        await wait_until(pilot, lambda: isinstance(app.screen, ApproveScreen), "approval")
        suffix = digest[-8:]
        assert digest[-8:] not in screen_text(app), "the suffix must come from the form"
        await _approve(pilot, "alice", "alice-pin")
        await wait_until(pilot, lambda: len(app.transfer.approvals) == 1, "first approval")
        assert "Approval 2 of 2" in screen_text(app)
        await _approve(pilot, "bob", "bob-pin", "00000000")
        await wait_until(pilot, lambda: "Not approved" in screen_text(app), "the refusal")
        assert "not the last 8 of the bundle digest" in screen_text(app)
        await _approve(pilot, "bob", "bob-pin", suffix)

        await wait_until(pilot, lambda: isinstance(app.screen, DoneScreen), "the receipt", 30)
        text = screen_text(app)
        assert DEMO_IMAGE in text
        assert "alice (operator), bob (verifier)" in text
        assert "Remove the media" in text
        assert app.transfer.state is TransferState.DONE

        feed.remove_current()
        await wait_until(pilot, lambda: isinstance(app.screen, WaitingScreen), "the start")
    index = json.loads((demo.home / "store" / "index.json").read_text())
    assert DEMO_IMAGE in json.dumps(index)
    events = _audit_events(demo)
    assert events.index("media-inserted") < events.index("bundle-opened")
    assert events[-1] == "media-removed"
    assert events.count("approval") == 2
    assert "import-done" in events


async def test_tampered_bundle_is_rejected_and_cannot_be_approved(demo: DemoHome) -> None:
    app, feed = kiosk_app(demo)
    async with app.run_test(size=(120, 40)) as pilot:
        await insert_and_read(pilot, feed, demo.media[1])
        await verify_now(pilot)
        text = screen_text(app)
        assert "REJECTED" in text
        assert "files/transfer-request.txt" in text
        assert "Remove the media. Nothing from it will be imported." in text
        await pilot.press("a")
        await pilot.pause(0.2)
        assert isinstance(app.screen, VerifyScreen), "no way to approve a rejected bundle"
        assert app.transfer.state is TransferState.REJECTED
        feed.remove_current()
        await wait_until(pilot, lambda: isinstance(app.screen, WaitingScreen), "the start")
    assert "import-done" not in _audit_events(demo)


async def test_pulling_the_media_aborts_and_says_so(demo: DemoHome) -> None:
    app, feed = kiosk_app(demo)
    async with app.run_test(size=(120, 40)) as pilot:
        await insert_and_read(pilot, feed, demo.media[0])
        await verify_now(pilot)
        transfer = app.transfer
        staged = transfer.verification.staged.root
        assert staged.exists()
        await pilot.press("a")
        await wait_until(pilot, lambda: isinstance(app.screen, ApproveScreen), "approval")

        feed.remove_current()
        await wait_until(pilot, lambda: isinstance(app.screen, AbortedScreen), "the abort")
        said = "the media was removed after verification, before the approvals"
        await wait_until(pilot, lambda: said in screen_text(app), "the reason on screen")
        assert "Nothing from this media was imported." in screen_text(app)
        await wait_until(pilot, lambda: transfer.state is TransferState.ABORTED, "abort")
        await app.workers.wait_for_complete()
        assert not staged.exists(), "staged copies are removed"
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, WaitingScreen), "the start")
    assert "abort" in _audit_events(demo)


async def test_wrong_pin_is_refused_in_words_and_the_form_stays(demo: DemoHome) -> None:
    app, feed = kiosk_app(demo)
    async with app.run_test(size=(120, 40)) as pilot:
        await insert_and_read(pilot, feed, demo.media[0])
        await verify_now(pilot)
        await pilot.press("a")
        await wait_until(pilot, lambda: isinstance(app.screen, ApproveScreen), "approval")
        await _approve(pilot, "alice", "not-her-pin")
        await wait_until(pilot, lambda: "Not approved" in screen_text(app), "the refusal")
        assert "wrong PIN for alice: 4 tries left before the account locks" in screen_text(app)
        assert all(field.value == "" for field in app.screen.query(Input))
        assert app.focused is app.screen.query_one("#username"), "a retyped name is no PIN"
        assert app.transfer.approvals == ()


@pytest.fixture
def big(demo: DemoHome, tmp_path: Path) -> DemoMedia:
    """A signed bundle with one 768 MiB file: verifying it takes long enough to interrupt."""
    payload = tmp_path / "big.bin"
    with payload.open("wb") as out:
        out.truncate(768 * 1024 * 1024)
    media = DemoMedia("BIG", tmp_path / "BIG", "one large file")
    create_bundle(media.source, secret_key=demo.root / "producer-keys" / "demo-release.key",
                  files=[payload], name="big", producer="test")
    payload.unlink()
    return media


async def test_pulling_the_media_mid_verification_stops_hashing(
    demo: DemoHome, big: DemoMedia
) -> None:
    app, feed = kiosk_app(demo)
    pulled: list[Progress] = []

    def pull_at_first_progress(message: Message) -> None:
        """The operator pulls the stick the moment the first progress report is drawn."""
        if isinstance(message, WorkProgress) and not pulled:
            pulled.append(message.progress)
            feed.remove_current()

    async with app.run_test(size=(120, 40), message_hook=pull_at_first_progress) as pilot:
        await insert_and_read(pilot, feed, big)
        transfer = app.transfer
        assert transfer is not None
        await pilot.press("v")
        await wait_until(pilot, lambda: isinstance(app.screen, AbortedScreen), "the abort")
        assert "the media was removed during verification" in screen_text(app)
        await wait_until(pilot, lambda: transfer.state is TransferState.ABORTED, "abort")
        await app.workers.wait_for_complete()
        assert transfer.verification is None, "no verdict from a half-read media"
        assert pulled and pulled[0].done < pulled[0].total, "pulled while hashing"
    staging = demo.home / "staging"
    assert list(staging.iterdir()) == [], "nothing half-copied stays in staging"


async def test_escape_stops_a_running_verification(demo: DemoHome, big: DemoMedia) -> None:
    app, feed = kiosk_app(demo)
    stopped: list[Progress] = []
    confirmed: list[Progress] = []
    pressing: list[asyncio.Task[None]] = []

    def escape_then_yes(message: Message) -> None:
        """The operator presses Esc at the first progress report, then Y in the dialog that
        asks (hashing goes on meanwhile) at the next one."""
        if not isinstance(message, WorkProgress):
            return
        if not stopped:
            stopped.append(message.progress)
            pressing.append(asyncio.get_running_loop().create_task(pilot.press("escape")))
        elif isinstance(app.screen, ConfirmDialog) and not confirmed:
            confirmed.append(message.progress)
            pressing.append(asyncio.get_running_loop().create_task(pilot.press("y")))

    async with app.run_test(size=(120, 40), message_hook=escape_then_yes) as pilot:
        await insert_and_read(pilot, feed, big)
        transfer = app.transfer
        assert transfer is not None
        await pilot.press("v")
        await wait_until(pilot, lambda: isinstance(app.screen, AbortedScreen), "the abort")
        text = screen_text(app)
        assert "the operator stopped the verification" in text
        assert confirmed[0].done < confirmed[0].total, "stopped while hashing"
        assert "Remove the media." in text
        await wait_until(pilot, lambda: transfer.state is TransferState.ABORTED, "abort")
        await app.workers.wait_for_complete()
        assert transfer.verification is None
        feed.remove_current()
        await wait_until(pilot, lambda: isinstance(app.screen, WaitingScreen), "the start")
    assert list((demo.home / "staging").iterdir()) == []


async def test_failed_import_says_what_to_do_and_can_be_retried(demo: DemoHome) -> None:
    app, feed = kiosk_app(demo)
    store = demo.home / "store"
    async with app.run_test(size=(120, 40)) as pilot:
        await insert_and_read(pilot, feed, demo.media[0])
        await verify_now(pilot)
        digest = app.screen.verification.bundle_digest
        await pilot.press("a")
        await wait_until(pilot, lambda: isinstance(app.screen, ApproveScreen), "approval")
        shutil.rmtree(store)
        store.write_text("a file where the store should be")  # the store is broken
        await _approve(pilot, "alice", "alice-pin")
        await wait_until(pilot, lambda: len(app.transfer.approvals) == 1, "first approval")
        await _approve(pilot, "bob", "bob-pin", digest[-8:])
        await wait_until(pilot, lambda: "The import stopped" in screen_text(app), "failure")
        text = screen_text(app)
        assert "store is not a folder" in text
        assert "press R to import again" in text
        assert app.transfer.state is TransferState.APPROVED

        store.unlink()
        store.mkdir()
        await pilot.press("r")
        await wait_until(pilot, lambda: isinstance(app.screen, DoneScreen), "the receipt", 30)
    assert DEMO_IMAGE in (store / "index.json").read_text()
