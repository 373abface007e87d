"""Step 4: the two-person rule. Each operator in turn signs in and confirms the digest.

The workflow enforces the rule (distinct enabled operators, the same digest, the typed
suffix); this screen only guides both people through it and shows any refusal in words.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import Footer, Input, Label, Static

from station.errors import StationError
from tui.messages import WorkFinished
from tui.screens.base import StepScreen
from tui.widgets import DigestView, StepHeader

if TYPE_CHECKING:
    from station.workflow import Transfer


class ApproveScreen(StepScreen):
    """One form per approval; the second approver also types the digest's last 8 characters."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel the transfer")]

    def __init__(self, transfer: Transfer) -> None:
        super().__init__(classes="approve-screen")
        self.transfer = transfer
        self.busy = False

    def compose(self) -> ComposeResult:
        yield StepHeader(4, "Two operators approve")
        verification = self.transfer.verification
        digest = verification.bundle_digest if verification is not None else ""
        with Vertical(classes="panel", id="approve-form"):
            yield Static("", id="approver-title", classes="section-title")
            yield DigestView(digest, id="approve-digest")
            yield Label("Operator name")
            yield Input(id="username", placeholder="your operator name")
            yield Label("PIN or passphrase")
            yield Input(id="secret", password=True, placeholder="not shown")
            yield Label("Last 8 characters of the bundle digest, from the transfer request form")
            yield Input(id="suffix", max_length=8, placeholder="e.g. 3f9c0a12")
            yield Static("", id="approve-error", classes="problem")
        yield Static("Fill in the form and press Enter.", classes="next-action")
        yield Footer()

    def on_mount(self) -> None:
        self._prompt()

    def _prompt(self) -> None:
        done = len(self.transfer.approvals)
        needed = done + self.transfer.approvals_needed()
        self.query_one("#approver-title", Static).update(
            f"Approval {done + 1} of {needed}: "
            + ("first operator" if done == 0 else "a second, different operator")
        )
        for field in self.query(Input):
            field.value = ""
        self.query_one("#username", Input).focus()

    @on(Input.Submitted)
    def next_field(self, event: Input.Submitted) -> None:
        order = ["username", "secret", "suffix"]
        index = order.index(event.input.id or "username")
        if index < len(order) - 1:
            self.query_one(f"#{order[index + 1]}", Input).focus()
        else:
            self.submit()

    def submit(self) -> None:
        if self.busy:
            return
        username = self.query_one("#username", Input).value.strip()
        secret = self.query_one("#secret", Input).value
        suffix = self.query_one("#suffix", Input).value.strip() or None
        self.busy = True
        self.query_one("#approve-error", Static).update("Checking…")
        self.approve(username, secret, suffix)

    @work(thread=True, exit_on_error=False, group="approve", name="approval")
    def approve(self, username: str, secret: str, suffix: str | None) -> None:
        try:
            approval = self.transfer.approve(username, secret, suffix)
        except StationError as refused:
            self.post_message(WorkFinished("approval-refused", refused))
            return
        self.post_message(WorkFinished("approval", approval))

    def on_work_finished(self, message: WorkFinished) -> None:
        message.stop()
        self.busy = False
        if message.kind == "approval-refused":
            error: Any = message.result
            text = error.message + (f" — {error.hint}" if error.hint else "")
            self.query_one("#approve-error", Static).update(f"✘ Not approved: {text}")
            self.query_one("#secret", Input).value = ""
            return
        self.query_one("#approve-error", Static).update("")
        if self.transfer.approvals_needed() > 0:
            self.notify("Approval recorded. Now the second operator.")
            self._prompt()
            return
        from tui.screens.importing import ImportScreen

        self.station_app.go_to(ImportScreen(self.transfer))

    def action_cancel(self) -> None:
        self.station_app.abort_transfer("the operators cancelled at the approval step")
