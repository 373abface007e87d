"""The station's health at a glance: free space, trust keys, targets, audit log, history."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import Static

from station.progress import format_size


def status_text(status: Any) -> Text:
    """Plain lines with a ✔/✘ word for each thing that can be wrong."""
    text = Text()
    text.append("Station status\n", style="bold")
    text.append(f"Staging: {format_size(status.staging_free)} free    "
                f"Store: {format_size(status.store_free)} free\n")
    text.append(f"Trust store: {len(status.keys)} key(s)\n")
    for key in status.keys:
        text.append(f"  {key.name}  {key.scheme}  {key.fingerprint}\n")
    if not status.keys:
        text.append("  ✘ no trusted keys: every bundle will be rejected\n")
    for target in status.targets:
        if target.problem is None:
            text.append(f"✔ target {target.name}: reachable\n")
        else:
            text.append(f"✘ target {target.name}: {target.problem}\n")
    if status.audit_ok:
        text.append("✔ audit log healthy\n")
    else:
        text.append(f"✘ audit log: {status.audit_problem}\n")
    if status.last_transfers:
        text.append("Last transfers\n", style="bold")
        for line in status.last_transfers:
            text.append(f"  {line}\n")
    return text


class StationStatusView(Static):
    """Filled from `Station.status()` by a worker; shows a placeholder until then."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("Reading the station status…", id=id, classes="panel status-view")

    def show(self, status: Any) -> None:
        self.update(status_text(status))
