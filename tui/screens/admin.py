"""Admin sign-in, the admin screen (station status, locked accounts, leave the kiosk).

Everything here is behind the admin credential; the sign-in is audited, success or not,
and never with a typed name that matches no account (`OperatorStore.sign_in`).
The audit viewer lives in `tui.screens.audit`.
"""

from __future__ import annotations

from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from station.approval import ApprovalError, Operator, Role
from station.errors import StationError
from tui.keys import letter
from tui.messages import (
    AccountUnlocked,
    LockedAccountsRead,
    QuitRecorded,
    SignedIn,
    SignInRefused,
    StatusRead,
    UnlockRefused,
)
from tui.safe_text import SafeText
from tui.screens.audit import AuditScreen
from tui.screens.base import StepScreen
from tui.widgets import StepHeader
from tui.widgets.scroll_pane import ScrollPane
from tui.widgets.status_view import StationStatusView
from tui.widgets.steady_input import SteadyInput

__all__ = ["AdminLoginScreen", "AdminScreen", "AuditScreen"]

WHERE = "kiosk"


class AdminLoginScreen(ModalScreen[str | None]):
    """Name and PIN; dismisses with the admin's account name only when the core says so."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", key_display="Esc"),
    ]

    def compose(self) -> ComposeResult:
        with Vertical(id="login-box", classes="panel"):
            yield Static("Admin sign-in", classes="section-title")
            with Horizontal(classes="form-row"):
                yield Label("Admin name", classes="form-label")
                yield SteadyInput(id="admin-user", compact=True)
            with Horizontal(classes="form-row"):
                yield Label("Admin PIN", classes="form-label")
                yield SteadyInput(id="admin-pin", password=True, placeholder="not shown",
                                  compact=True)
            yield Static("", id="login-error", classes="problem")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#admin-user", Input).focus()

    @on(Input.Submitted, "#admin-user")
    def to_pin(self) -> None:
        self.query_one("#admin-pin", Input).focus()

    @on(Input.Submitted, "#admin-pin")
    def submit(self) -> None:
        user = self.query_one("#admin-user", Input).value
        pin = self.query_one("#admin-pin", Input).value
        self.query_one("#login-error", Static).update("Checking…")
        self.check(user, pin)

    @work(thread=True, exclusive=True, exit_on_error=False, group="login", name="admin sign-in")
    def check(self, user: str, pin: str) -> None:
        station = self.app.station  # type: ignore[attr-defined]
        try:
            account = station.operators.sign_in(user, pin, role=Role.ADMIN,
                                                audit=station.audit, where=WHERE)
        except ApprovalError as refused:
            self.post_message(SignInRefused(refused))
            return
        self.post_message(SignedIn(account))

    def on_signed_in(self, message: SignedIn) -> None:
        message.stop()
        self.dismiss(message.account.name)

    def on_sign_in_refused(self, message: SignInRefused) -> None:
        message.stop()
        error = message.error
        hint = f" — {error.hint}" if error.hint else ""
        self.query_one("#login-error", Static).update(SafeText(f"✘ {error.message}{hint}"))
        # The form empties and the name has the focus: a retyped name is never a PIN.
        for field in ("#admin-user", "#admin-pin"):
            self.query_one(field, Input).value = ""
        self.query_one("#admin-user", Input).focus()

    def action_cancel(self) -> None:
        self.dismiss(None)


def locked_label(account: Operator) -> str:
    return f"{account.name} ({account.role.value}): locked after {account.failures} wrong PINs"


class AdminScreen(StepScreen):
    """Station status in full, locked accounts, the audit viewer, and the only way to quit
    a kiosk."""

    BINDINGS: ClassVar[list[BindingType]] = [
        letter("l", "audit", "Audit log"),
        letter("e", "audit_export", "Audit export to USB"),  # issue 15
        letter("u", "unlock", "Unlock the marked account"),
        letter("q", "quit_station", "Quit the station"),
        Binding("escape", "back", "Back", key_display="Esc"),
    ]

    locked: reactive[tuple[Operator, ...] | None] = reactive(None, init=False, bindings=True,
                                                             always_update=True)
    """Accounts locked after too many wrong PINs, as last read."""

    def __init__(self, admin: str) -> None:
        super().__init__(classes="admin-screen")
        self.admin = admin

    def compose(self) -> ComposeResult:
        yield StepHeader(0, f"Administration (signed in: {self.admin})")
        with ScrollPane(id="admin-status-pane"):
            yield StationStatusView(id="admin-status")
        with Vertical(id="locked-panel", classes="panel"):
            yield Static("Locked accounts", id="locked-title", classes="section-title")
            yield Static("Reading the accounts…", id="locked-none")
            yield OptionList(id="locked-list", compact=True)
            yield Static("", id="unlock-result")
        yield Static("Locked accounts: ↑/↓ mark one, U unlocks it (you are asked first). "
                     "L shows the audit log, Q quits the station, Esc goes back.",
                     classes="next-action")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#locked-list").display = False
        self.query_one("#admin-status-pane").focus()
        self.load()
        self.load_locked()

    @work(thread=True, exit_on_error=False, group="status", name="reading the station status")
    def load(self) -> None:
        self.post_message(StatusRead(self.station_app.station.status()))

    def on_status_read(self, message: StatusRead) -> None:
        message.stop()
        self.query_one(StationStatusView).show(message.status)

    @work(thread=True, exit_on_error=False, group="accounts", name="reading the accounts")
    def load_locked(self) -> None:
        self.post_message(LockedAccountsRead(self.station_app.station.operators.locked_accounts()))

    def on_locked_accounts_read(self, message: LockedAccountsRead) -> None:
        message.stop()
        self.locked = tuple(message.accounts)

    def watch_locked(self, locked: tuple[Operator, ...] | None) -> None:
        if locked is None:
            return
        listing = self.query_one("#locked-list", OptionList)
        listing.clear_options()
        listing.add_options([Option(SafeText(locked_label(a)), id=a.name) for a in locked])
        listing.display = bool(locked)
        self.query_one("#locked-none", Static).update("None: every account can sign in.")
        self.query_one("#locked-none").display = not locked
        if locked:
            listing.highlighted = 0
            listing.focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "unlock":
            return bool(self.locked)
        return True

    def action_unlock(self) -> None:
        from tui.screens.confirm import ConfirmDialog

        listing = self.query_one("#locked-list", OptionList)
        if not self.locked or listing.highlighted is None:
            return
        account = self.locked[listing.highlighted]

        def answered(yes: bool | None) -> None:
            if yes:
                self.unlock(account.name)

        self.app.push_screen(ConfirmDialog(
            f"Unlock {account.name}?",
            f"{locked_label(account)}. Unlocking lets {account.name} sign in again with the "
            f"same PIN; it goes into the audit log under your name ({self.admin}).",
            yes="Yes, unlock", no="No"), answered)

    @work(thread=True, exit_on_error=False, group="accounts", name="unlocking an account")
    def unlock(self, name: str) -> None:
        station = self.station_app.station
        try:
            account = station.operators.unlock(name, admin=self.admin, audit=station.audit,
                                               where=WHERE)
        except StationError as refused:
            self.post_message(UnlockRefused(refused))
            return
        self.post_message(AccountUnlocked(account))

    def on_account_unlocked(self, message: AccountUnlocked) -> None:
        message.stop()
        self.query_one("#unlock-result", Static).update(
            f"✔ {message.account.name} unlocked (on record).")
        self.load_locked()

    def on_unlock_refused(self, message: UnlockRefused) -> None:
        message.stop()
        self.query_one("#unlock-result", Static).update(
            SafeText(f"✘ Not unlocked: {message.error.message}"))
        self.load_locked()

    def action_audit(self) -> None:
        self.app.push_screen(AuditScreen())

    def action_audit_export(self) -> None:
        from tui.screens.audit_export import AuditExportScreen

        self.app.push_screen(AuditExportScreen(self.admin))

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_quit_station(self) -> None:
        from tui.screens.confirm import ConfirmDialog

        def answered(yes: bool | None) -> None:
            if yes:
                self.record_quit()

        self.app.push_screen(ConfirmDialog(
            "Quit the station?",
            "The kiosk stops and no transfer can be made until it is started again. "
            f"The quit goes into the audit log under your name ({self.admin}).",
            yes="Yes, quit the station", no="No, stay"), answered)

    @work(thread=True, exit_on_error=False, group="admin", name="recording the quit")
    def record_quit(self) -> None:
        """The kiosk leaving service is an admin action: on record before the app exits."""
        self.station_app.station.audit.append(
            "admin-action", actor=self.admin, action="quit-kiosk")
        self.post_message(QuitRecorded())  # the app exits on it
