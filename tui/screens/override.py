"""The admin's override of a rollback rejection: name, PIN and a reason, checked by the core.

Only `Transfer.override_rollback` decides: it authenticates the admin, refuses anything but a
rejection for an old sequence number, and audits the override or the refusal. This dialog
only collects the three answers and says in words why the core said no.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Label, Static
from textual.worker import Worker, WorkerState

from station.errors import StationError
from tui.messages import OverrideAnswered
from tui.safe_text import SafeText
from tui.widgets.steady_input import SteadyInput

if TYPE_CHECKING:
    from station.workflow import Transfer


class RollbackOverrideScreen(ModalScreen[bool]):
    """Dismisses with True once the core accepted the override (verification must rerun)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", key_display="Esc"),
    ]

    def __init__(self, transfer: Transfer) -> None:
        super().__init__()
        self.transfer = transfer

    def compose(self) -> ComposeResult:
        verification = self.transfer.verification
        problems = verification.problems if verification is not None else ()
        with Vertical(id="override-box", classes="panel"):
            yield Static("Admin override: accept an older release", classes="section-title")
            yield Static(SafeText("\n".join(f"✘ {p.message}" for p in problems)), classes="problem")
            yield Static(
                "Only an admin may accept it, on purpose: your name and reason go into the "
                "audit log, then every file is verified again.",
                classes="explain",
            )
            with Horizontal(classes="form-row"):
                yield Label("Admin name", classes="form-label")
                yield SteadyInput(id="override-user", compact=True)
            with Horizontal(classes="form-row"):
                yield Label("Admin PIN", classes="form-label")
                yield SteadyInput(id="override-pin", password=True, placeholder="not shown",
                            compact=True)
            with Horizontal(classes="form-row"):
                yield Label("Reason (audited)", classes="form-label")
                yield SteadyInput(id="override-reason", placeholder="e.g. vendor re-issued it",
                            compact=True)
            yield Static("", id="override-error", classes="problem")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#override-user", Input).focus()

    @on(Input.Submitted, "#override-user")
    def to_pin(self) -> None:
        self.query_one("#override-pin", Input).focus()

    @on(Input.Submitted, "#override-pin")
    def to_reason(self) -> None:
        self.query_one("#override-reason", Input).focus()

    @on(Input.Submitted, "#override-reason")
    def submit(self) -> None:
        user = self.query_one("#override-user", Input).value.strip()
        pin = self.query_one("#override-pin", Input).value
        reason = self.query_one("#override-reason", Input).value.strip()
        error = self.query_one("#override-error", Static)
        if not user or not pin:
            error.update("✘ Type the admin's name and PIN.")
            self.query_one("#override-pin" if user else "#override-user", Input).focus()
            return
        error.update("Checking…")
        # An empty reason still goes to the core: it refuses it and keeps that on record.
        self.override(user, pin, reason)

    @work(thread=True, exclusive=True, exit_on_error=False, group="override",
          name="the admin override")
    def override(self, user: str, pin: str, reason: str) -> None:
        try:
            self.transfer.override_rollback(user, pin, reason)
        except StationError as refused:
            self.post_message(OverrideAnswered(str(refused)))  # message (hint)
            return
        self.post_message(OverrideAnswered(None))

    def on_override_answered(self, message: OverrideAnswered) -> None:
        message.stop()
        if message.refusal is None:
            self.dismiss(True)
            return
        self.query_one("#override-error", Static).update(
            SafeText(f"✘ Not accepted: {message.refusal}"))
        # As at every sign-in: the form empties and the name has the focus, so a name typed
        # next is never spent as a PIN.
        for field in ("#override-user", "#override-pin"):
            self.query_one(field, Input).value = ""
        self.query_one("#override-user", Input).focus()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Anything but a refusal (the audit log cannot be written, a bug) is a failure."""
        if event.state is WorkerState.ERROR and event.worker.error is not None:
            from tui.app import StationApp

            app = self.app
            if isinstance(app, StationApp):
                self.dismiss(False)
                app.show_failure(event.worker.error, during=event.worker.name or "")

    def action_cancel(self) -> None:
        self.dismiss(False)
