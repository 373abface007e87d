"""What an SBOM or scan report on the media says: counts by severity in colour and words.

The bytes have not been verified yet, so the first line always says so. Every string comes
from the media: it is shown as `Text` (never markup), already escaped by the core's
`summary_lines` helpers. Colours live in station.tcss (`.report-summary .severity.-critical`).
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Static

from station.bundle.reports import ScanSummary
from station.bundle.summaries import (
    SEVERITY_ORDER,
    UNVERIFIED,
    ItemSummary,
    Unreadable,
    package_line,
    summary_lines,
    title,
    worst,
)
from tui.safe_text import SafeText

SHOWN_NAMES = 10


class ReportSummary(Vertical):
    """Hidden until an SBOM or scan report is highlighted; then its summary, or "reading"."""

    DEFAULT_CLASSES = "report-summary"

    def compose(self) -> ComposeResult:
        yield Static(SafeText(f"What it says ({UNVERIFIED}):"), classes="summary-label")
        yield Static(SafeText(""), classes="summary-title")
        with Horizontal(classes="severities"):  # one line, so it fits the pane at 80x24
            for severity in SEVERITY_ORDER:
                yield Static(SafeText(""), classes=f"severity -{severity.lower()}")
        yield Static(SafeText(""), classes="summary-detail")

    def hide(self) -> None:
        self.remove_class("-shown")

    def show_reading(self) -> None:
        """The file is being read in a worker; say so rather than show nothing."""
        self._fill("Reading it from the media…", severities=None, detail="")

    def show_summary(self, summary: ItemSummary) -> None:
        if isinstance(summary, Unreadable):
            (note,) = summary_lines(summary)  # escaped: the reason may quote the media
            self._fill(note, severities=None, detail="", problem=True)
        elif isinstance(summary, ScanSummary):
            total = len(summary.vulnerabilities)
            lines = [f"{total} vulnerabilities" + (", worst:" if total else "")]
            lines += [f"  {line}" for line in worst(summary)]
            self._fill(title(summary), severities=summary.counts, detail="\n".join(lines))
        else:
            self._fill(title(summary), severities=None,
                       detail=package_line(summary, limit=SHOWN_NAMES))

    def _fill(
        self,
        heading: str,
        *,
        severities: dict[str, int] | None,
        detail: str,
        problem: bool = False,
    ) -> None:
        self.add_class("-shown")
        heading_widget = self.query_one(".summary-title", Static)
        heading_widget.update(SafeText(heading))
        heading_widget.set_class(problem, "problem")
        self.query_one(".severities").display = severities is not None
        for severity in SEVERITY_ORDER:
            count = (severities or {}).get(severity, 0)
            cell = self.query_one(f".severity.-{severity.lower()}", Static)
            cell.update(SafeText(f"{severity} {count}"))
            cell.set_class(count == 0, "-none")
        detail_widget = self.query_one(".summary-detail", Static)
        detail_widget.display = bool(detail)
        detail_widget.update(SafeText(detail))
