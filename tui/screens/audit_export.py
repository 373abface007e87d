"""Admin: write a signed audit export onto a USB stick inserted for that purpose.

The only time the station writes to media; the core (`station.audit_media.export_to_media`)
mounts the stick read-write through the helper's own operation, writes, syncs, unmounts and
audits. This screen lists the USB sticks present, takes the period's first day, and runs
the export in a worker; results come back as typed messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Footer, Input, Label, OptionList, Static

from station.errors import StationError
from station.media.events import DeviceInfo
from tui.safe_text import SafeText
from tui.screens.base import StepScreen
from tui.widgets import StepHeader
from tui.widgets.steady_input import SteadyInput


class AuditExportScreen(StepScreen):
    """Choose a stick and a first day; W (or Enter on a stick) writes the export, R lists
    the sticks again. The list has the focus; Tab reaches the day."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("w", "write", "Write the export"),
        Binding("r", "refresh", "List sticks again"),
        Binding("escape", "back", "Back"),
    ]

    @dataclass
    class SticksListed(Message):
        sticks: list[DeviceInfo]

    @dataclass
    class ExportWritten(Message):
        device: DeviceInfo
        file_name: str

    @dataclass
    class ExportFailed(Message):
        reason: str

    def __init__(self, admin: str) -> None:
        super().__init__(classes="audit-export-screen")
        self.admin = admin
        self.sticks: list[DeviceInfo] = []

    def compose(self) -> ComposeResult:
        yield StepHeader(0, "Audit export to a USB stick")
        with Vertical(classes="panel"):
            yield Static(
                "Insert a USB stick for the export. The station mounts it WRITABLE for this "
                "one file (signed with the station key), then unmounts it. Nothing else on the "
                "stick is read or changed.",
                classes="explain",
            )
            with Horizontal(classes="form-row"):
                yield Label("From (UTC day)", classes="form-label")
                since = (datetime.now(UTC).date() - timedelta(days=90)).isoformat()
                yield SteadyInput(since, id="export-since", compact=True)
            yield Static("USB sticks", classes="section-title")
            yield OptionList(id="export-sticks")
            yield Static("", id="export-result")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#export-sticks", OptionList).focus()
        self.action_refresh()

    @on(Input.Submitted, "#export-since")
    def to_sticks(self) -> None:
        self.query_one("#export-sticks", OptionList).focus()

    @on(OptionList.OptionSelected, "#export-sticks")
    def chosen(self) -> None:
        self.action_write()

    def action_refresh(self) -> None:
        self.query_one("#export-result", Static).update("Looking for USB sticks…")
        self.list_sticks()

    @work(thread=True, exclusive=True, exit_on_error=False, group="export", name="listing sticks")
    def list_sticks(self) -> None:
        from station.audit_media import usb_sticks

        self.post_message(self.SticksListed(usb_sticks()))

    @on(SticksListed)
    def show_sticks(self, message: SticksListed) -> None:
        self.sticks = message.sticks
        options = self.query_one("#export-sticks", OptionList)
        options.clear_options()
        for stick in self.sticks:
            options.add_option(SafeText(f"{stick.device}  {stick.describe()}"))
        self.query_one("#export-result", Static).update(
            "Choose a stick and press W." if self.sticks else "No USB stick found: insert "
            "one, then press R."
        )

    def action_write(self) -> None:
        index = self.query_one("#export-sticks", OptionList).highlighted
        text = self.query_one("#export-since", Input).value.strip()
        result = self.query_one("#export-result", Static)
        if index is None or index >= len(self.sticks):
            result.update(SafeText("✘ Choose a stick first.", style="bold"))
            return
        try:
            since = date.fromisoformat(text)
        except ValueError:
            result.update(SafeText(f"✘ {text!r} is not a day (YYYY-MM-DD).", style="bold"))
            return
        result.update(SafeText(f"Writing the export onto {self.sticks[index].device}…"))
        self.write_export(self.sticks[index], since)

    @work(thread=True, exclusive=True, exit_on_error=False, group="export", name="audit export")
    def write_export(self, stick: DeviceInfo, since: date) -> None:
        from station.audit_media import export_to_media
        from station.checkpoints import audit_settings

        station = self.station_app.station
        if station.signer is None:
            self.post_message(self.ExportFailed(
                "this station has no signing key (station keys station-init)"))
            return
        try:
            name = export_to_media(
                stick, log=station.audit, home=station.config.home, signer=station.signer,
                admin=self.admin, since=since,
                signer_dir=audit_settings(station.config).signer_dir,
            )
        except StationError as exc:
            self.post_message(self.ExportFailed(str(exc)))
            return
        self.post_message(self.ExportWritten(stick, name))

    @on(ExportWritten)
    def written(self, message: ExportWritten) -> None:
        self.query_one("#export-result", Static).update(SafeText(
            f"✔ {message.file_name} written to {message.device.device} and unmounted: "
            "the stick can be removed. Check it anywhere with `station audit verify-export "
            "FILE --station-key station.pub`."
        ))

    @on(ExportFailed)
    def failed(self, message: ExportFailed) -> None:
        self.query_one("#export-result", Static).update(SafeText(f"✘ {message.reason}"))

    def action_back(self) -> None:
        self.app.pop_screen()
