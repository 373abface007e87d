"""SVG snapshots of every kiosk screen, at 80x24 (must stay readable) and 160x50.

The data is deterministic: the demo station is built with a seeded key, bundles carry a fixed
creation time, progress values are fixed (rates and times left come from `Progress.elapsed`,
not a clock), and the station status is fixed (free space and paths vary by machine).
Update after a deliberate change with `pytest tests/tui/test_snapshots.py --snapshot-update`
and review the SVGs in `__snapshots__/`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from station.audit import AuditCheck
from station.demo import DEMO_IMAGE, DemoHome, build_demo_home
from station.importing.base import DeliveredFile, ImageReceipt, Receipt
from station.importing.store import StoreTarget
from station.progress import Progress
from station.station import PastTransfer, Station, StationStatus, TargetStatus
from station.verify.trust import TrustedKey
from tests.tui.helpers import copy_demo, insert_and_read, kiosk_app, verify_now, wait_until
from tui.app import StationApp
from tui.messages import ImportStep
from tui.screens.done import DoneScreen
from tui.screens.failure import FailureScreen
from tui.screens.importing import ImportScreen
from tui.screens.verify import VerifyScreen

Snap = Callable[..., bool]
Before = Callable[[Pilot[None]], Awaitable[None]]
SMALL, LARGE = (80, 24), (160, 50)
DIGEST = "sha256:" + "0123456789abcdef" * 4


class FixedStatusStation(Station):
    """A real station whose status report is fixed (free space and paths vary by machine)."""

    def status(self) -> StationStatus:
        key = TrustedKey(name="demo-release", scheme="minisign", fingerprint="3A1F0C5D9E2B7A64",
                         path=Path("/var/lib/station/trust/demo-release.pub"), data=b"")
        return StationStatus(
            staging_free=48 * 1024**3,
            store_free=211 * 1024**3,
            keys=(key,),
            key_problems=(),
            targets=(TargetStatus("store", "the embedded store at /var/lib/station/store", None),
                     TargetStatus("docker", "Docker engine at unix:///run/docker.sock",
                                  "cannot connect: connection refused")),
            audit=AuditCheck(ok=True, records=41),
            recent=(PastTransfer("2026-11-26T15:02:11+00:00", DIGEST, "imported", "store"),
                    PastTransfer("2026-11-26T11:40:09+00:00", DIGEST, "rejected",
                                 "files/a.txt does not match its checksum")),
        )


class HeldVerifyScreen(VerifyScreen):
    """The verify screen with its worker held back, so a test can show fixed progress."""

    def verify(self) -> Any:  # type: ignore[override]
        return None


class HeldImportScreen(ImportScreen):
    """The import screen with its worker held back, so a test can show fixed steps."""

    def run_import(self, target: Any) -> Any:  # type: ignore[override]
        return None


@pytest.fixture(scope="module")
def seeded_template(tmp_path_factory: pytest.TempPathFactory) -> DemoHome:
    return build_demo_home(tmp_path_factory.mktemp("snap") / "demo", key_seed=b"snapshots")


@pytest.fixture
def seeded(seeded_template: DemoHome, tmp_path: Path) -> DemoHome:
    return copy_demo(seeded_template, tmp_path / "demo")


def _app(demo: DemoHome) -> StationApp:
    app, feed = kiosk_app(demo, station_class=FixedStatusStation)
    app._test_feed = feed  # type: ignore[attr-defined]
    return app


async def _inserted(pilot: Pilot[None], demo: DemoHome, which: int = 0) -> StationApp:
    app = pilot.app
    assert isinstance(app, StationApp)
    await insert_and_read(pilot, app._test_feed, demo.media[which])  # type: ignore[attr-defined]
    return app


async def _verified(pilot: Pilot[None], demo: DemoHome, which: int = 0) -> StationApp:
    app = await _inserted(pilot, demo, which)
    await verify_now(pilot)
    return app


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "160x50"])
def test_waiting(snap_compare: Snap, seeded: DemoHome, size: tuple[int, int]) -> None:
    def status_shown(pilot: Pilot[None]) -> bool:
        views = pilot.app.screen.query("#station-status")
        return bool(views) and "Trusted keys" in str(views.first().render())

    async def before(pilot: Pilot[None]) -> None:
        await wait_until(pilot, lambda: status_shown(pilot), "the status")

    assert snap_compare(_app(seeded), terminal_size=size, run_before=before)


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "160x50"])
def test_contents(snap_compare: Snap, seeded: DemoHome, size: tuple[int, int]) -> None:
    async def before(pilot: Pilot[None]) -> None:
        await _inserted(pilot, seeded)
        await pilot.press("down", "down", "down")  # highlight the image: detail pane shows it

    assert snap_compare(_app(seeded), terminal_size=size, run_before=before)


def test_verify_in_progress(snap_compare: Snap, seeded: DemoHome) -> None:
    async def before(pilot: Pilot[None]) -> None:
        app = await _inserted(pilot, seeded)
        assert app.transfer is not None
        screen = HeldVerifyScreen(app.transfer)
        app.go_to(screen)
        await pilot.pause()
        mib = 1024**2
        screen.show_progress(Progress(200 * mib, 1024 * mib, 1.0, "files/a.iso", 200 * mib,
                                      200 * mib))
        screen.show_progress(Progress(600 * mib, 1024 * mib, 2.5, "images/big.oci.tar",
                                      400 * mib, 800 * mib))

    assert snap_compare(_app(seeded), terminal_size=SMALL, run_before=before)


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "160x50"])
def test_verdict_accepted(snap_compare: Snap, seeded: DemoHome, size: tuple[int, int]) -> None:
    async def before(pilot: Pilot[None]) -> None:
        await _verified(pilot, seeded)

    assert snap_compare(_app(seeded), terminal_size=size, run_before=before)


def test_verdict_rejected(snap_compare: Snap, seeded: DemoHome) -> None:
    async def before(pilot: Pilot[None]) -> None:
        await _verified(pilot, seeded, which=1)

    assert snap_compare(_app(seeded), terminal_size=SMALL, run_before=before)


def test_approve_second_operator(snap_compare: Snap, seeded: DemoHome) -> None:
    async def before(pilot: Pilot[None]) -> None:
        app = await _verified(pilot, seeded)
        assert app.transfer is not None
        app.transfer.approve("alice", "alice-pin")
        await pilot.press("a")
        await pilot.press(*"bob")

    assert snap_compare(_app(seeded), terminal_size=SMALL, run_before=before)


def test_import_in_progress(snap_compare: Snap, seeded: DemoHome) -> None:
    async def before(pilot: Pilot[None]) -> None:
        app = await _verified(pilot, seeded)
        assert app.transfer is not None
        target = StoreTarget(Path("/var/lib/station/store"), Path("/var/lib/station"))
        screen = HeldImportScreen(app.transfer, target)
        app.go_to(screen)
        await pilot.pause()
        for name, status, detail in (
            (f"copy image {DEMO_IMAGE}", "done", ""),
            ("deliver files/transfer-request.txt", "done", ""),
            ("deliver sbom/hello.cdx.json", "started", ""),
        ):
            screen.on_import_step(ImportStep(name, status, detail))
        screen.query_one("#import-progress").show(  # type: ignore[attr-defined]
            Progress(7 * 1024**2, 10 * 1024**2, 0.5))

    assert snap_compare(_app(seeded), terminal_size=SMALL, run_before=before)


def test_done(snap_compare: Snap, seeded: DemoHome) -> None:
    async def before(pilot: Pilot[None]) -> None:
        app = await _verified(pilot, seeded)
        transfer = app.transfer
        assert transfer is not None and transfer.verification is not None
        transfer.approve("alice", "alice-pin")
        transfer.approve("bob", "bob-pin", transfer.verification.bundle_digest[-8:])
        receipt = Receipt(
            target="store",
            bundle_digest=transfer.verification.bundle_digest,
            images=(ImageReceipt((DEMO_IMAGE,), DIGEST, DIGEST, "/var/lib/station/store"),),
            files=(DeliveredFile("files/transfer-request.txt", DIGEST,
                                 "/var/lib/station/received/files/transfer-request.txt"),),
            started="2026-11-27T10:00:00+00:00",
            finished="2026-11-27T10:00:02+00:00",
        )
        app.go_to(DoneScreen(transfer, receipt))

    assert snap_compare(_app(seeded), terminal_size=SMALL, run_before=before)


def test_aborted_by_removal(snap_compare: Snap, seeded: DemoHome) -> None:
    async def before(pilot: Pilot[None]) -> None:
        app = await _inserted(pilot, seeded)
        app._test_feed.remove_current()  # type: ignore[attr-defined]
        await wait_until(pilot, lambda: type(app.screen).__name__ == "AbortedScreen", "abort")

    assert snap_compare(_app(seeded), terminal_size=SMALL, run_before=before)


def test_failure_no_bundle(snap_compare: Snap, seeded: DemoHome) -> None:
    async def before(pilot: Pilot[None]) -> None:
        stick = seeded.root / "staging-stick"
        stick.mkdir()
        (stick / "holiday.jpg").write_bytes(b"not a bundle")
        stick.rename(seeded.media_dir / "HOLIDAY")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, FailureScreen), "failure")

    assert snap_compare(_app(seeded), terminal_size=SMALL, run_before=before)


def test_admin_login(snap_compare: Snap, seeded: DemoHome) -> None:
    assert snap_compare(_app(seeded), terminal_size=SMALL, press=["a", *"admin"])
