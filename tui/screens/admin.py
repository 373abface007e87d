"""Admin login, the admin screen (trust keys, targets, leave the kiosk) and its audit viewer.

Everything here is behind the admin credential; the login is audited, success or not.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Label, Static

from tui.messages import WorkFinished
from tui.screens.base import StepScreen
from tui.widgets import StepHeader
from tui.widgets.status_view import StationStatusView


class AdminLoginScreen(ModalScreen[str | None]):
    """Name and PIN; dismisses with the admin's name only when the gate says this is an admin."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(id="login-box", classes="panel"):
            yield Static("Admin login", classes="section-title")
            with Horizontal(classes="form-row"):
                yield Label("Admin name", classes="form-label")
                yield Input(id="admin-user", compact=True)
            with Horizontal(classes="form-row"):
                yield Label("Admin PIN", classes="form-label")
                yield Input(id="admin-pin", password=True, placeholder="not shown", compact=True)
            yield Static("", id="login-error", classes="problem")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#admin-user", Input).focus()

    @on(Input.Submitted, "#admin-user")
    def to_pin(self) -> None:
        self.query_one("#admin-pin", Input).focus()

    @on(Input.Submitted, "#admin-pin")
    def submit(self) -> None:
        user = self.query_one("#admin-user", Input).value.strip()
        pin = self.query_one("#admin-pin", Input).value
        self.query_one("#login-error", Static).update("Checking…")
        self.check(user, pin)

    @work(thread=True, exclusive=True, exit_on_error=False, group="login", name="admin login")
    def check(self, user: str, pin: str) -> None:
        app: Any = self.app
        refusal = app.gate.check(user, pin)
        audit = app.station.audit
        if refusal is None:
            audit.append("login", actor=user, role="admin", where="kiosk")
        else:
            audit.append("login-failed", actor=user, role="admin", reason=refusal)
        self.post_message(WorkFinished("login", (user, refusal)))

    def on_work_finished(self, message: WorkFinished) -> None:
        message.stop()
        user, refusal = message.result
        if refusal is None:
            self.dismiss(user)
            return
        self.query_one("#login-error", Static).update(f"✘ {refusal}")
        self.query_one("#admin-pin", Input).value = ""

    def action_cancel(self) -> None:
        self.dismiss(None)


class AdminScreen(StepScreen):
    """Station status in full, the audit viewer, and the only way to quit a kiosk."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("l", "audit", "Audit log"),
        Binding("e", "audit_export", "Audit export to USB"),  # issue 15
        Binding("q", "quit_station", "Quit the station"),
        Binding("escape", "back", "Back"),
    ]

    def __init__(self, admin: str) -> None:
        super().__init__(classes="admin-screen")
        self.admin = admin

    def compose(self) -> ComposeResult:
        yield StepHeader(0, f"Administration (signed in: {self.admin})")
        yield StationStatusView(id="admin-status")
        yield Footer()

    def on_mount(self) -> None:
        self.load()

    @work(thread=True, exit_on_error=False, group="status", name="reading the station status")
    def load(self) -> None:
        self.post_message(WorkFinished("status", self.station_app.station.status()))

    def on_work_finished(self, message: WorkFinished) -> None:
        message.stop()
        if message.kind == "quit":
            self.station_app.exit()
        else:
            self.query_one(StationStatusView).show(message.result)

    def action_audit(self) -> None:
        self.app.push_screen(AuditScreen())

    def action_audit_export(self) -> None:
        from tui.screens.audit_export import AuditExportScreen

        self.app.push_screen(AuditExportScreen(self.admin))

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_quit_station(self) -> None:
        self.record_quit()

    @work(thread=True, exit_on_error=False, group="admin", name="recording the quit")
    def record_quit(self) -> None:
        """The kiosk leaving service is an admin action: on record before the app exits."""
        self.station_app.station.audit.append(
            "admin-action", actor=self.admin, action="quit-kiosk")
        self.post_message(WorkFinished("quit", None))


class AuditScreen(StepScreen):
    """The newest audit records and whether the hash chain holds."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "back", "Back")]
    SHOWN = 200

    def compose(self) -> ComposeResult:
        from textual.widgets import DataTable

        yield StepHeader(0, "Audit log")
        yield Static("Checking the hash chain…", id="chain")
        yield DataTable(id="audit-table", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.load()

    @work(thread=True, exit_on_error=False, group="audit", name="reading the audit log")
    def load(self) -> None:
        audit = self.station_app.station.audit
        check = audit.verify()
        records = list(audit.records())[-self.SHOWN :]
        self.post_message(WorkFinished("audit", (check, records)))

    def on_work_finished(self, message: WorkFinished) -> None:
        from textual.widgets import DataTable

        message.stop()
        check, records = message.result
        chain = self.query_one("#chain", Static)
        if check.ok:
            chain.update(Text(f"✔ Hash chain intact: {check.records} records"))
            chain.add_class("-accepted")
        else:
            chain.update(Text(f"✘ HASH CHAIN BROKEN: {check.describe()}"))
            chain.add_class("-rejected")
        table = self.query_one(DataTable)
        table.add_columns("#", "time (UTC)", "event", "who", "details")
        for record in reversed(records):
            table.add_row(
                str(record.get("seq", "")),
                str(record.get("time", ""))[:19],
                str(record.get("event", "")),
                str(record.get("actor") or "-"),
                Text(_details(record)),
            )

    def action_back(self) -> None:
        self.app.pop_screen()


def _details(record: dict[str, Any]) -> str:
    skip = {"seq", "time", "event", "actor", "prev", "hash"}
    parts = [f"{key}={value}" for key, value in sorted(record.items()) if key not in skip]
    text = " ".join(parts)
    return text if len(text) <= 120 else text[:117] + "…"
