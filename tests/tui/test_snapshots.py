"""SVG snapshots of every kiosk screen at 80x24 (the smallest it must serve), some also at
160x50, all drawn with the kiosk's one theme: the 16 ANSI colours (tui/theme.py).

The data is deterministic: the demo station is built with a seeded key, bundles carry a fixed
creation time, progress values are fixed (rates and times left come from `Progress.elapsed`,
not a clock), the station status is fixed (free space and paths vary by machine), the
approval book runs on a frozen clock, the audit viewer reads a log written with a fixed
clock, and the local time zone is Europe/Berlin (so local time shows with UTC beside it).
Update after a deliberate change with `pytest tests/tui/test_snapshots.py --snapshot-update`
and review the SVGs in `__snapshots__/`.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from station.approval import ApprovalBook
from station.audit import AuditCheck, AuditLog
from station.demo import DEMO_IMAGE, DemoHome, build_demo_home
from station.importing.base import DeliveredFile, ImageReceipt, Receipt
from station.importing.store import StoreTarget
from station.progress import Progress
from station.station import PastImport, PastTransfer, Station, StationStatus, TargetStatus
from station.verify.trust import TrustedKey
from tests.tui.helpers import (
    copy_demo,
    insert_and_read,
    kiosk_app,
    lock_account,
    verify_now,
    wait_until,
)
from tui.app import StationApp
from tui.messages import ImportStep
from tui.screens.admin import AdminScreen
from tui.screens.approve import ApproveScreen
from tui.screens.audit import AuditRecordScreen, AuditScreen
from tui.screens.confirm import ConfirmDialog
from tui.screens.done import DoneScreen
from tui.screens.failure import FailureScreen
from tui.screens.importing import ImportScreen
from tui.screens.override import RollbackOverrideScreen
from tui.screens.verify import VerifyScreen

Snap = Callable[..., bool]
Before = Callable[[Pilot[None]], Awaitable[None]]
SMALL, LARGE = (80, 24), (160, 50)
DIGEST = "sha256:" + "0123456789abcdef" * 4
NOON = datetime(2026, 11, 27, 10, 0, 0, tzinfo=UTC)


class FrozenClock:
    """The approval book's monotonic clock, moved only by the tests."""

    now = 1000.0

    def __call__(self) -> float:
        return self.now


CLOCK = FrozenClock()


class FixedStatusStation(Station):
    """A real station whose status report and approval clock are fixed."""

    @classmethod
    def open(cls, home: str | Path | None = None) -> Station:
        station = super().open(home)
        book = station.approvals
        station.approvals = ApprovalBook(
            book.operators, book.settings, clock=CLOCK,
            wall_clock=lambda: NOON + timedelta(seconds=CLOCK.now - 1000.0), audit=station.audit)
        return station

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
            recent=(PastTransfer("2026-11-26T15:02:11+00:00", DIGEST, "imported", "store",
                                 "hello-1.0"),
                    PastTransfer("2026-11-26T11:40:09+00:00", DIGEST, "rejected",
                                 "files/a.txt does not match its checksum", "hello-0.9")),
        )


class ImportedBeforeStation(FixedStatusStation):
    """The same, where the audit log says the bundle was imported twice before."""

    def previous_imports(self, bundle_digest: str) -> tuple[PastImport, ...]:
        return (PastImport("2026-11-20T08:15:00+00:00", "store", "a1", ("alice", "bob")),
                PastImport("2026-11-26T15:02:11+00:00", "registry", "b2", ("carol", "bob")))


class HeldVerifyScreen(VerifyScreen):
    """The verify screen with its worker held back, so a test can show fixed progress."""

    def verify(self) -> Any:  # type: ignore[override]
        return None


class HeldImportScreen(ImportScreen):
    """The import screen with its worker held back, so a test can show fixed steps."""

    def run_import(self, target: Any) -> Any:  # type: ignore[override]
        return None


@pytest.fixture(autouse=True)
def berlin_and_a_frozen_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    CLOCK.now = 1000.0
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture(scope="module")
def seeded_template(tmp_path_factory: pytest.TempPathFactory) -> DemoHome:
    return build_demo_home(tmp_path_factory.mktemp("snap") / "demo", key_seed=b"snapshots")


@pytest.fixture
def seeded(seeded_template: DemoHome, tmp_path: Path) -> DemoHome:
    return copy_demo(seeded_template, tmp_path / "demo")


def _app(demo: DemoHome, station_class: type[Station] = FixedStatusStation) -> StationApp:
    app, feed = kiosk_app(demo, station_class=station_class)
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


async def _approving(pilot: Pilot[None], demo: DemoHome, *first: str) -> StationApp:
    """On the approval form; with `first` (name, PIN) that one has approved already."""
    app = await _verified(pilot, demo)
    assert app.transfer is not None
    if first:
        app.transfer.approve(*first)
    CLOCK.now += 29
    await pilot.press("a")
    await wait_until(pilot, lambda: isinstance(app.screen, ApproveScreen)
                     and app.screen.state is not None, "the approval form")
    return app


def _shown(pilot: Pilot[None], text: str) -> Callable[[], bool]:
    from tests.tui.helpers import screen_text

    return lambda: text in screen_text(pilot.app)  # type: ignore[arg-type]


# -- step 1 and 2 ---------------------------------------------------------------------------


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


def test_contents_details_scrolled(snap_compare: Snap, seeded: DemoHome) -> None:
    async def before(pilot: Pilot[None]) -> None:
        await _inserted(pilot, seeded)
        await pilot.press("down", "down", "down", "pagedown")

    assert snap_compare(_app(seeded), terminal_size=SMALL, run_before=before)


# -- step 3 ---------------------------------------------------------------------------------


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


def test_verdict_of_a_bundle_imported_before(snap_compare: Snap, seeded: DemoHome) -> None:
    async def before(pilot: Pilot[None]) -> None:
        await _verified(pilot, seeded)
        await wait_until(pilot, _shown(pilot, "Already imported"), "the notice")

    app = _app(seeded, ImportedBeforeStation)
    assert snap_compare(app, terminal_size=SMALL, run_before=before)


def test_reimport_confirmation(snap_compare: Snap, seeded: DemoHome) -> None:
    async def before(pilot: Pilot[None]) -> None:
        await _verified(pilot, seeded)
        await wait_until(pilot, _shown(pilot, "Already imported"), "the notice")
        await pilot.press("a")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, ConfirmDialog), "dialog")

    app = _app(seeded, ImportedBeforeStation)
    assert snap_compare(app, terminal_size=SMALL, run_before=before)


def test_rollback_override_dialog(snap_compare: Snap, seeded: DemoHome) -> None:
    async def before(pilot: Pilot[None]) -> None:
        app = await _verified(pilot, seeded)
        assert app.transfer is not None
        app.push_screen(RollbackOverrideScreen(app.transfer))
        await pilot.pause()
        await pilot.press(*"admin")

    assert snap_compare(_app(seeded), terminal_size=SMALL, run_before=before)


# -- step 4 ---------------------------------------------------------------------------------


def test_approve_first_operator(snap_compare: Snap, seeded: DemoHome) -> None:
    async def before(pilot: Pilot[None]) -> None:
        await _approving(pilot, seeded)
        await pilot.press(*"alice")

    assert snap_compare(_app(seeded), terminal_size=SMALL, run_before=before)


def test_approve_second_operator(snap_compare: Snap, seeded: DemoHome) -> None:
    async def before(pilot: Pilot[None]) -> None:
        await _approving(pilot, seeded, "alice", "alice-pin")
        await wait_until(pilot, _shown(pilot, "14:31 left"), "the countdown")
        await pilot.press(*"bob", "enter", *"bob-pin", "enter", *"72FF 707C")

    assert snap_compare(_app(seeded), terminal_size=SMALL, run_before=before)


def test_approve_after_an_expiry(snap_compare: Snap, seeded: DemoHome) -> None:
    async def before(pilot: Pilot[None]) -> None:
        await _approving(pilot, seeded, "alice", "alice-pin")
        CLOCK.now += 900
        await wait_until(pilot, _shown(pilot, "EXPIRED"), "the expiry")

    assert snap_compare(_app(seeded), terminal_size=SMALL, run_before=before)


def test_approve_refused_role(snap_compare: Snap, seeded: DemoHome) -> None:
    async def before(pilot: Pilot[None]) -> None:
        await _approving(pilot, seeded, "bob", "bob-pin")
        await pilot.press(*"alice", "enter", *"alice-pin", "enter", *"72ff707c", "enter")
        await wait_until(pilot, _shown(pilot, "Ctrl+R to start"), "the refusal")

    assert snap_compare(_app(seeded), terminal_size=SMALL, run_before=before)


def test_cancel_confirmation(snap_compare: Snap, seeded: DemoHome) -> None:
    async def before(pilot: Pilot[None]) -> None:
        await _approving(pilot, seeded)
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, ConfirmDialog), "dialog")

    assert snap_compare(_app(seeded), terminal_size=SMALL, run_before=before)


# -- step 5 and 6, and endings --------------------------------------------------------------


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


def _receipt(bundle_digest: str) -> Receipt:
    return Receipt(
        target="store",
        bundle_digest=bundle_digest,
        images=(ImageReceipt((DEMO_IMAGE,), DIGEST, DIGEST, "oci:/var/lib/station/store"),),
        files=(DeliveredFile("files/transfer-request.txt", DIGEST,
                             "/var/lib/station/received/files/transfer-request.txt"),),
        started="2026-11-27T10:00:00+00:00",
        finished="2026-11-27T10:00:02+00:00",
    )


@pytest.mark.parametrize("scrolled", [False, True], ids=["top", "end"])
def test_done(snap_compare: Snap, seeded: DemoHome, scrolled: bool) -> None:
    async def before(pilot: Pilot[None]) -> None:
        app = await _verified(pilot, seeded)
        transfer = app.transfer
        assert transfer is not None and transfer.verification is not None
        transfer.approve("alice", "alice-pin")
        transfer.approve("bob", "bob-pin", transfer.verification.bundle_digest[-8:])
        app.go_to(DoneScreen(transfer, _receipt(transfer.verification.bundle_digest)))
        await wait_until(pilot, lambda: isinstance(app.screen, DoneScreen), "the receipt")
        if scrolled:
            await pilot.press("end")

    assert snap_compare(_app(seeded), terminal_size=SMALL, run_before=before)


def test_aborted_by_removal(snap_compare: Snap, seeded: DemoHome) -> None:
    async def before(pilot: Pilot[None]) -> None:
        app = await _inserted(pilot, seeded)
        app._test_feed.remove_current()  # type: ignore[attr-defined]
        await wait_until(pilot, lambda: type(app.screen).__name__ == "AbortedScreen", "abort")

    assert snap_compare(_app(seeded), terminal_size=SMALL, run_before=before)


def test_aborted_with_the_media_in(snap_compare: Snap, seeded: DemoHome) -> None:
    async def before(pilot: Pilot[None]) -> None:
        await _approving(pilot, seeded)
        await pilot.press("escape", "y")
        await wait_until(pilot, lambda: type(pilot.app.screen).__name__ == "AbortedScreen",
                         "abort")

    assert snap_compare(_app(seeded), terminal_size=SMALL, run_before=before)


def test_failure_no_bundle(snap_compare: Snap, seeded: DemoHome) -> None:
    async def before(pilot: Pilot[None]) -> None:
        stick = seeded.root / "staging-stick"
        stick.mkdir()
        (stick / "holiday.jpg").write_bytes(b"not a bundle")
        stick.rename(seeded.media_dir / "HOLIDAY")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, FailureScreen), "failure")

    assert snap_compare(_app(seeded), terminal_size=SMALL, run_before=before)


# -- administration -------------------------------------------------------------------------


def test_admin_login(snap_compare: Snap, seeded: DemoHome) -> None:
    assert snap_compare(_app(seeded), terminal_size=SMALL, press=["a", *"admin"])


def test_admin_login_refused(snap_compare: Snap, seeded: DemoHome) -> None:
    async def before(pilot: Pilot[None]) -> None:
        await pilot.press("a", *"admin", "enter", *"not-the-pin", "enter")
        await wait_until(pilot, _shown(pilot, "tries left"), "the refusal")

    assert snap_compare(_app(seeded), terminal_size=SMALL, run_before=before)


def test_admin_screen_with_a_locked_account(snap_compare: Snap, seeded: DemoHome) -> None:
    lock_account(seeded, "alice")

    async def before(pilot: Pilot[None]) -> None:
        pilot.app.push_screen(AdminScreen("admin"))
        await wait_until(pilot, lambda: bool(pilot.app.screen.query("#locked-list"))
                         and pilot.app.screen.query_one("#locked-list").option_count == 1,
                         "the list")
        await wait_until(pilot, _shown(pilot, "Trusted keys"), "the status")

    assert snap_compare(_app(seeded), terminal_size=SMALL, run_before=before)


def _fixed_audit_log(path: Path) -> AuditLog:
    """A short, realistic log written with a fixed clock (so the chain's hashes are fixed)."""
    moments = iter(NOON + timedelta(seconds=7 * n) for n in range(100))
    log = AuditLog(path, clock=lambda: next(moments))
    device = {"device": "/dev/sdb1", "bus": "usb", "vendor": "SanDisk", "model": "Cruzer Blade",
              "serial": "4C530001", "size": 15_376_000_000, "fs_type": "ext4",
              "label": "TRANSFER", "uuid": "", "sys_path": ""}
    log.append("station-started", home="/var/lib/station", staging_cleaned=0)
    log.append("media-inserted", root="/run/station/media/sdb1", device=device)
    log.append("bundle-opened", transfer="t1", digest=DIGEST, format="bundle.json", items=3,
               size=10_650, problems=[], warnings=0, name="hello-1.0", channel="ops",
               sequence=42)
    log.append("verification", transfer="t1", digest=DIGEST, verdict="accepted",
               verification="v1", signers=["demo-release"], problems=[], warnings=[])
    log.append("approval", actor="alice", digest=DIGEST, verification="v1", role="operator",
               order=1, noninteractive=False)
    log.append("approval-expired", actor="alice", digest=DIGEST, verification="v1", order=1,
               role="operator", approved_at="2026-11-27T10:00:28+00:00", expiry_seconds=900.0)
    log.append("approval-refused", actor=None, digest=DIGEST, verification="v1",
               code="unknown-operator", reason="unknown operator or wrong PIN",
               noninteractive=False)
    log.append("approval", actor="bob", digest=DIGEST, verification="v1", role="verifier",
               order=1, noninteractive=False)
    log.append("approvals-restarted", actor=None, digest=DIGEST, verification="v1",
               reason="the operators started the approvals again after a refused role",
               count=1, operators=["bob"])
    log.append("import-done", transfer="t1", digest=DIGEST, target="store", receipt={})
    log.append("media-removed", device=device)
    log.append("login", actor="admin", role="admin", where="kiosk")
    return log


async def _audit_viewer(pilot: Pilot[None], demo: DemoHome) -> StationApp:
    """The viewer on the fixed log, its records listed."""
    app = pilot.app
    assert isinstance(app, StationApp)
    app.station.audit = _fixed_audit_log(demo.root / "fixed-audit.log")
    app.push_screen(AuditScreen())
    await wait_until(pilot, lambda: isinstance(app.screen, AuditScreen)
                     and app.screen.rows != [], "the records")
    return app


def test_audit_viewer(snap_compare: Snap, seeded: DemoHome) -> None:
    async def before(pilot: Pilot[None]) -> None:
        await _audit_viewer(pilot, seeded)

    assert snap_compare(_app(seeded), terminal_size=SMALL, run_before=before)


def test_audit_record_detail(snap_compare: Snap, seeded: DemoHome) -> None:
    async def before(pilot: Pilot[None]) -> None:
        app = await _audit_viewer(pilot, seeded)
        await pilot.press(*["down"] * 10, "enter")  # the media inserted, oldest but one
        await wait_until(pilot, lambda: isinstance(app.screen, AuditRecordScreen), "detail")

    assert snap_compare(_app(seeded), terminal_size=SMALL, run_before=before)
