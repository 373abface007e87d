"""The station's health at a glance: free space, trust keys, targets, audit log, history."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from station.progress import format_size
from station.station import StationStatus
from tui.format import local_and_utc, plural, short_digest
from tui.safe_text import SafeText


def status_text(status: StationStatus) -> Text:
    """Plain lines with a ✔/✘ word for each thing that can be wrong."""
    text = SafeText()
    text.append("Station status\n", style="bold")
    text.append(f"Free space: staging {format_size(status.staging_free)}, "
                f"store {format_size(status.store_free)}\n")
    text.append(f"Trusted keys: {len(status.keys)}\n")
    for key in status.keys:
        text.append(f"  {key.name}  {key.scheme}  {key.fingerprint}\n")
    if not status.keys:
        text.append("  ✘ no trusted keys: every bundle will be rejected\n")
    for problem in status.key_problems:
        text.append(f"  ✘ {problem}\n")
    for target in status.targets:
        if target.problem is None:
            text.append(f"✔ target {target.name}: ready ({target.description})\n")
        else:
            text.append(f"✘ target {target.name}: {target.problem}\n")
    if status.audit.ok:
        text.append(f"✔ audit log healthy ({plural(status.audit.records, 'record')})\n")
    else:
        text.append(f"✘ AUDIT LOG BROKEN: {status.audit.describe()}\n")
    text.append("Last transfers\n", style="bold")
    for past in status.recent:
        what = past.bundle or f"bundle {short_digest(past.digest)}"
        mark = "✔" if past.outcome == "imported" else "✘"
        text.append(f"  {local_and_utc(past.time, seconds=False)}  {mark} {past.outcome} "
                    f"{what}: {past.detail}\n")
    if not status.recent:
        text.append("  none yet\n")
    return text


class StationStatusView(Static):
    """Filled from `Station.status()` by a worker; shows a placeholder until then."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("Reading the station status…", id=id, classes="status-view")

    def show(self, status: StationStatus) -> None:
        self.update(status_text(status))
