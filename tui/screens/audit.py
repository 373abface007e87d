"""The audit viewer: one sentence per record, a detail view, filters, local time and UTC.

The log is read and its hash chain checked once, in a worker; filtering runs in a worker
too (a station's log grows for years). Sentences come from `tui.audit_sentences`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.events import Resize
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Label, Select, Static

from tui.audit_sentences import KINDS, bundle_names, detail_lines, matches, sentence
from tui.format import local_and_utc, parse_time, plural
from tui.messages import AuditFiltered, AuditRead
from tui.safe_text import SafeText
from tui.screens.base import StepScreen
from tui.widgets import StepHeader
from tui.widgets.scroll_pane import ScrollPane, show_scroll_cue
from tui.widgets.steady_input import SteadyInput

SHOWN = 500
"""Newest matching records shown; the filters reach every record."""


@dataclass(frozen=True)
class AuditRow:
    """One table row: the record, its sentence and its time in the viewer's two zones."""

    record: dict[str, Any]
    sentence: str
    local: str
    utc: str


def row_for(record: dict[str, Any], names: dict[str, str]) -> AuditRow:
    when = parse_time(str(record.get("time", "")))
    if when is None:
        local, utc = str(record.get("time", "")), ""
    else:
        local = when.astimezone().strftime("%m-%d %H:%M:%S")
        utc = when.astimezone(UTC).strftime("%H:%M:%S")
    return AuditRow(record, sentence(record, names), local, utc)


class AuditTable(DataTable[Any]):
    """The records, one a row, with the "more" cue on its border."""

    def on_mount(self) -> None:
        self._update_cue = show_scroll_cue(self)

    def on_resize(self, event: Resize) -> None:
        self.call_after_refresh(self._update_cue)


class AuditScreen(StepScreen):
    """The newest audit records as sentences, whether the hash chain holds, and filters."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", key_display="Esc"),
    ]

    def __init__(self) -> None:
        super().__init__(classes="audit-screen")
        self.records: list[dict[str, Any]] = []
        self.names: dict[str, str] = {}
        self.rows: list[AuditRow] = []

    def compose(self) -> ComposeResult:
        yield StepHeader(0, "Audit log")
        yield Static("Checking the hash chain…", id="chain")
        with Horizontal(id="audit-filters"):
            yield Label("Operator", classes="filter-label")
            yield SteadyInput(id="filter-operator", placeholder="any", compact=True)
            yield Label("Bundle", classes="filter-label")
            yield SteadyInput(id="filter-bundle", placeholder="name or digest", compact=True)
            yield Label("Kind", classes="filter-label")
            yield Select([(kind, kind) for kind in KINDS], id="filter-kind", compact=True,
                         prompt="any")
        yield AuditTable(id="audit-table", cursor_type="row")
        yield Static("↑/↓ choose a record, Enter shows all of it. Tab moves to the filters. "
                     "Esc goes back.", classes="next-action")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_column("#", key="seq")
        table.add_column("local time", key="local")
        table.add_column("UTC", key="utc")
        table.add_column("what happened", key="what")
        table.focus()
        self.load()

    @work(thread=True, exit_on_error=False, group="audit", name="reading the audit log")
    def load(self) -> None:
        audit = self.station_app.station.audit
        check = audit.verify()
        self.post_message(AuditRead(check, list(audit.records())))

    def on_audit_read(self, message: AuditRead) -> None:
        message.stop()
        check = message.check
        chain = self.query_one("#chain", Static)
        if check.ok:
            chain.update(SafeText(f"✔ Hash chain intact: {plural(check.records, 'record')}"))
            chain.add_class("-accepted")
        else:
            chain.update(SafeText(f"✘ HASH CHAIN BROKEN: {check.describe()}"))
            chain.add_class("-rejected")
        self.records = message.records
        self.names = bundle_names(message.records)
        self.apply_filters()

    @on(Input.Changed)
    @on(Select.Changed)
    def apply_filters(self) -> None:
        if not self.is_mounted:
            return
        operator = self.query_one("#filter-operator", Input).value.strip()
        bundle = self.query_one("#filter-bundle", Input).value.strip()
        kind = self.query_one("#filter-kind", Select).value
        self.filter_rows(operator, bundle, kind if isinstance(kind, str) else "")

    @work(thread=True, exclusive=True, exit_on_error=False, group="audit-filter",
          name="filtering the audit log")
    def filter_rows(self, operator: str, bundle: str, kind: str) -> None:
        chosen = [r for r in self.records
                  if matches(r, self.names, operator=operator, bundle=bundle, kind=kind)]
        rows = [row_for(record, self.names) for record in reversed(chosen[-SHOWN:])]
        self.post_message(AuditFiltered(rows, len(chosen)))

    def on_audit_filtered(self, message: AuditFiltered) -> None:
        message.stop()
        self.rows = message.rows
        table = self.query_one(DataTable)
        table.clear()
        for index, row in enumerate(message.rows):
            table.add_row(str(row.record.get("seq", "")), row.local, row.utc,
                          SafeText(row.sentence), key=str(index))
        shown = f"newest {len(message.rows)} of " if message.matched > len(message.rows) else ""
        self.query_one(DataTable).border_title = f"{shown}{plural(message.matched, 'record')}"

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        index = int(str(event.row_key.value))
        if 0 <= index < len(self.rows):
            self.app.push_screen(AuditRecordScreen(self.rows[index]))

    def action_back(self) -> None:
        self.app.pop_screen()


class AuditRecordScreen(Screen[None]):
    """Everything one record holds, nothing cut off, scrollable."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back to the list", key_display="Esc"),
    ]

    def __init__(self, row: AuditRow) -> None:
        super().__init__(classes="audit-record-screen")
        self.row = row

    def compose(self) -> ComposeResult:
        record = self.row.record
        yield StepHeader(0, f"Audit record #{record.get('seq', '?')}")
        with ScrollPane(id="record-pane"):
            yield Static(SafeText(self.row.sentence), id="record-sentence", classes="section-title")
            yield Static(SafeText(f"When: {local_and_utc(str(record.get('time', '')))}"),
                         id="record-time")
            yield Static(SafeText("\n".join(detail_lines(record))), id="record-fields")
        yield Static("↑/↓ PgUp/PgDn scroll. Esc goes back to the list.", classes="next-action")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#record-pane").focus()

    def action_back(self) -> None:
        self.app.pop_screen()
