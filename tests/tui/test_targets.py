"""Choosing the import target: only with more than one configured, only a reachable one."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot

from station.demo import DEMO_IMAGE, DemoHome, build_demo_home
from station.importing import ImportTarget
from station.importing.docker_engine import DockerEngineTarget
from station.importing.store import StoreTarget
from station.station import Station
from station.workflow import TransferState
from tests.tui.helpers import (
    copy_demo,
    insert_and_read,
    kiosk_app,
    screen_text,
    verify_now,
    wait_until,
)
from tui.app import StationApp
from tui.screens.aborted import AbortedScreen
from tui.screens.approve import ApproveScreen
from tui.screens.confirm import ConfirmDialog
from tui.screens.done import DoneScreen
from tui.screens.importing import ImportScreen
from tui.widgets.target_choice import TargetChoice, TargetRow

NO_ENGINE = "unix:///nonexistent.sock"


class TwoStores(Station):
    """Two reachable stores at different folders: config can name only one store."""

    def targets(self) -> list[ImportTarget]:
        home = self.config.home
        return [StoreTarget(home / "store-a", home), StoreTarget(home / "store-b", home)]


class _SlowStore(StoreTarget):
    """A store whose reachability check answers after the others' (a slow disk)."""

    def check(self) -> str | None:
        time.sleep(0.3)
        return super().check()


class FirstStoreSlow(Station):
    def targets(self) -> list[ImportTarget]:
        home = self.config.home
        return [_SlowStore(home / "store-a", home), StoreTarget(home / "store-b", home)]


class FixedTargets(Station):
    """Targets whose descriptions do not depend on the machine's temp folders (snapshot)."""

    def targets(self) -> list[ImportTarget]:
        station = Path("/var/lib/station")
        return [StoreTarget(station / "store", station),
                DockerEngineTarget(NO_ENGINE, work_dir=station / "staging", home=station)]


def _with_dead_engine(demo: DemoHome) -> None:
    with (demo.home / "station.toml").open("a", encoding="utf-8") as config:
        config.write(f'\n[targets.docker]\nurl = "{NO_ENGINE}"\n')


async def _approved(pilot: Pilot[None], demo: DemoHome) -> StationApp:
    """Genuine bundle inserted, verified and approved by both operators (in code: the
    approval screen has its own tests), then the step the approval screen goes to."""
    app = pilot.app
    assert isinstance(app, StationApp)
    await insert_and_read(pilot, app.demo, demo.media[0])  # type: ignore[arg-type]
    await verify_now(pilot)
    transfer = app.transfer
    assert transfer is not None and transfer.verification is not None
    transfer.approve("alice", "alice-pin")
    transfer.approve("bob", "bob-pin", transfer.verification.bundle_digest[-8:])
    app.go_to(ImportScreen(transfer))
    await wait_until(pilot, lambda: isinstance(app.screen, ImportScreen), "the import step")
    return app


def _all_checked(app: StationApp) -> Callable[[], bool]:
    def checked() -> bool:
        rows = app.screen.query(TargetRow)
        return bool(rows) and all(row.checked for row in rows)

    return checked


def _store_images(store: Path) -> str:
    index = store / "index.json"
    return index.read_text(encoding="utf-8") if index.exists() else ""


async def test_only_the_store_configured_imports_at_once(demo: DemoHome) -> None:
    app, _ = kiosk_app(demo)
    async with app.run_test(size=(120, 40)) as pilot:
        await _approved(pilot, demo)
        assert not app.screen.query(TargetChoice), "no choice with a single target"
        await wait_until(pilot, lambda: isinstance(app.screen, DoneScreen), "the receipt", 30)
    assert DEMO_IMAGE in _store_images(demo.home / "store")


async def test_unreachable_engine_is_shown_with_its_reason_and_cannot_be_chosen(
    demo: DemoHome,
) -> None:
    _with_dead_engine(demo)
    app, _ = kiosk_app(demo)
    async with app.run_test(size=(120, 40)) as pilot:
        await _approved(pilot, demo)
        await wait_until(pilot, _all_checked(app), "both targets checked")
        text = screen_text(app)
        assert "Step 5 of 6 — Choose where to import" in text
        assert "✔ ready" in text and "the embedded store at" in text
        assert f"✘ NOT REACHABLE  docker — the Docker engine at {NO_ENGINE}" in text
        assert "does not answer" in text and "(cannot be chosen)" in text
        assert app.transfer is not None and app.transfer.state is TransferState.APPROVED

        await pilot.press("down", "down")  # the cursor skips the dead engine
        choice = app.screen.query_one(TargetChoice)
        assert choice.chosen is not None and choice.chosen.name == "store"
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, DoneScreen), "the receipt", 30)
    assert DEMO_IMAGE in _store_images(demo.home / "store")
    events = [json.loads(line) for line in (demo.home / "audit.log").read_text().splitlines()]
    assert {e.get("target") for e in events if e["event"] == "import-step"} == {"store"}


async def test_operators_choose_the_second_store_with_the_keyboard(demo: DemoHome) -> None:
    app, feed = kiosk_app(demo, station_class=TwoStores)
    async with app.run_test(size=(120, 40)) as pilot:
        await insert_and_read(pilot, feed, demo.media[0])
        await verify_now(pilot)
        await pilot.press("a")
        await wait_until(pilot, lambda: isinstance(app.screen, ApproveScreen), "approval")
        digest = app.screen.transfer.verification.bundle_digest  # type: ignore[attr-defined]
        await pilot.press(*"alice", "enter", *"alice-pin", "enter")
        await wait_until(pilot, lambda: "Approval 2 of 2" in screen_text(app), "approval 2")
        await pilot.press(*"bob", "enter", *"bob-pin", "enter", *digest[-8:], "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ImportScreen), "the import step")
        await wait_until(pilot, _all_checked(app), "both stores checked")
        assert app.transfer is not None and app.transfer.state is TransferState.APPROVED
        await pilot.press("down", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, DoneScreen), "the receipt", 30)
    assert DEMO_IMAGE in _store_images(demo.home / "store-b")
    assert DEMO_IMAGE not in _store_images(demo.home / "store-a")


async def test_after_a_failed_import_the_operators_choose_another_target(
    demo: DemoHome,
) -> None:
    app, _ = kiosk_app(demo, station_class=TwoStores)
    async with app.run_test(size=(120, 40)) as pilot:
        await _approved(pilot, demo)
        await wait_until(pilot, _all_checked(app), "both stores checked")
        (demo.home / "store-a").write_text("not a folder any more")  # broke after the check
        await pilot.press("enter")
        await wait_until(pilot, lambda: "The import stopped" in screen_text(app), "the failure")
        assert "T to choose another target" in screen_text(app)
        await pilot.press("t")
        await wait_until(pilot, _all_checked(app), "the stores checked again")
        assert "store-a is not a folder (cannot be chosen)" in screen_text(app)
        await pilot.press("enter")  # the cursor moved to the one store still reachable
        await wait_until(pilot, lambda: isinstance(app.screen, DoneScreen), "the receipt", 30)
    assert DEMO_IMAGE in _store_images(demo.home / "store-b")


async def test_the_marker_rests_on_the_first_target_whatever_answers_first(
    demo: DemoHome,
) -> None:
    app, _ = kiosk_app(demo, station_class=FirstStoreSlow)
    async with app.run_test(size=(120, 40)) as pilot:
        await _approved(pilot, demo)
        await wait_until(pilot, _all_checked(app), "both stores checked")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, DoneScreen), "the receipt", 30)
    assert DEMO_IMAGE in _store_images(demo.home / "store-a")
    assert not _store_images(demo.home / "store-b")


async def test_escape_at_the_choice_cancels_the_transfer(demo: DemoHome) -> None:
    app, _ = kiosk_app(demo, station_class=TwoStores)
    async with app.run_test(size=(120, 40)) as pilot:
        await _approved(pilot, demo)
        transfer = app.transfer
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "are you sure")
        await pilot.press("y")
        await wait_until(pilot, lambda: isinstance(app.screen, AbortedScreen), "the abort")
        await app.workers.wait_for_complete()
        assert transfer is not None and transfer.state is TransferState.ABORTED
    assert not _store_images(demo.home / "store-a")
    assert not _store_images(demo.home / "store-b")


@pytest.fixture(scope="module")
def seeded_template(tmp_path_factory: pytest.TempPathFactory) -> DemoHome:
    return build_demo_home(tmp_path_factory.mktemp("snap") / "demo", key_seed=b"snapshots")


def test_snapshot_target_choice(
    snap_compare: Callable[..., bool], seeded_template: DemoHome, tmp_path: Path
) -> None:
    seeded = copy_demo(seeded_template, tmp_path / "demo")
    app, _ = kiosk_app(seeded, station_class=FixedTargets)

    async def before(pilot: Pilot[None]) -> None:
        await _approved(pilot, seeded)
        await wait_until(pilot, _all_checked(app), "both targets checked")

    assert snap_compare(app, terminal_size=(80, 24), run_before=before)
