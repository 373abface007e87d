"""Contents screen: highlighting an SBOM or a scan report shows what it says, marked unverified."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.color import Color
from textual.message import Message
from textual.pilot import Pilot
from textual.widgets import Static

from station.bundle.model import Item, ItemKind
from station.demo import DemoHome, DemoMedia
from station.publish.bundle import create_bundle
from tests.report_samples import CYCLONEDX, IMAGE, TRIVY, dump
from tests.tui.helpers import insert_and_read, kiosk_app, wait_until
from tui.messages import SummariesRead
from tui.widgets.bundle_tree import BundleTree
from tui.widgets.report_summary import ReportSummary


@pytest.fixture
def reports_media(demo: DemoHome, tmp_path: Path) -> DemoMedia:
    """A signed bundle carrying a CycloneDX SBOM and a Trivy report (not the demo's bundle)."""
    sbom, scan = tmp_path / "alpine.cdx.json", tmp_path / "trivy.json"
    sbom.write_bytes(dump(CYCLONEDX))
    scan.write_bytes(dump(TRIVY))
    media = DemoMedia("REPORTS", tmp_path / "REPORTS", "an SBOM and a scan report")
    create_bundle(media.source, secret_key=demo.root / "producer-keys" / "demo-release.key",
                  files=[sbom, scan], name="alpine", producer="test",
                  kinds={sbom: ItemKind.SBOM, scan: ItemKind.SCAN_REPORT})
    return media


def _summary_text(pilot: Pilot[None]) -> str:
    view = pilot.app.screen.query_one(ReportSummary)
    if not view.has_class("-shown"):
        return ""
    shown = [w for w in view.query(Static) if w.display and w.parent and w.parent.display]
    return "\n".join(str(w.render()) for w in shown)


async def _highlight(pilot: Pilot[None], kind: ItemKind) -> None:
    """Move the tree cursor down with the arrow key until the item of this kind is highlighted."""
    tree = pilot.app.screen.query_one(BundleTree)
    tree.focus()
    for _ in range(30):
        node = tree.cursor_node
        if node is not None and isinstance(node.data, Item) and node.data.kind is kind:
            return
        await pilot.press("down")
    raise AssertionError(f"no {kind} node in the tree")


async def test_sbom_and_scan_report_summaries(demo: DemoHome, reports_media: DemoMedia) -> None:
    app, feed = kiosk_app(demo)
    finished: list[str] = []

    def record(message: Message) -> None:
        if isinstance(message, SummariesRead):
            finished.extend(message.summaries)

    async with app.run_test(size=(160, 50), message_hook=record) as pilot:
        await insert_and_read(pilot, feed, reports_media)
        assert _summary_text(pilot) == "", "nothing is read before a report is highlighted"

        await _highlight(pilot, ItemKind.SBOM)
        await wait_until(pilot, lambda: "packages" in _summary_text(pilot), "the SBOM summary")
        assert _summary_text(pilot).splitlines() == [
            "What it says (from the media, not yet verified):",
            f"CycloneDX 1.5 SBOM of {IMAGE}",
            "14 packages: alpine-baselayout, alpine-keys, apk-tools, busybox, "
            "ca-certificates-bundle, libc-utils, libcrypto3, libssl3, musl, musl-utils "
            "and 4 more",
        ]

        await _highlight(pilot, ItemKind.SCAN_REPORT)
        await wait_until(pilot, lambda: "CRITICAL" in _summary_text(pilot), "the report summary")
        assert _summary_text(pilot).splitlines() == [
            "What it says (from the media, not yet verified):",
            f"Trivy report on {IMAGE}",
            "CRITICAL 1",  # one row of cells, in colour (checked below)
            "HIGH 2",
            "MEDIUM 2",
            "LOW 1",
            "UNKNOWN 1",
            "7 vulnerabilities, worst:",
            "  CVE-2024-24790 (CRITICAL, stdlib 1.21.5)",
            "  CVE-2023-6129 (HIGH, libcrypto3 3.1.4-r2)",
            "  CVE-2023-45288 (HIGH, golang.org/x/net 0.17.0)",
        ]
        view = app.screen.query_one(ReportSummary)
        critical = view.query_one(".severity.-critical", Static).styles
        high = view.query_one(".severity.-high", Static).styles
        low = view.query_one(".severity.-low", Static).styles
        assert critical.background == Color.parse("ansi_red")  # stands out on any console
        assert high.color == Color.parse("ansi_red") and low.color != high.color

        await pilot.press("up", "up")  # back to the SBOM: shown from what was read before
        assert "14 packages" in _summary_text(pilot)
        await pilot.press("home")  # the bundle itself: no summary
        assert _summary_text(pilot) == ""
        await app.workers.wait_for_complete()
    assert sorted(finished) == ["reports/trivy.json", "sbom/alpine.cdx.json"]


async def test_a_report_changed_on_the_media_says_it_cannot_be_read(
    demo: DemoHome, reports_media: DemoMedia
) -> None:
    app, feed = kiosk_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await insert_and_read(pilot, feed, reports_media)
        (demo.media_dir / "REPORTS" / "reports" / "trivy.json").write_bytes(b"\x00 not json")
        await _highlight(pilot, ItemKind.SCAN_REPORT)
        await wait_until(pilot, lambda: "cannot read" in _summary_text(pilot), "the note")
        assert "cannot read: reports/trivy.json: not JSON" in _summary_text(pilot)
        assert "CRITICAL" not in _summary_text(pilot)
