"""Step 4: the two-person rule. Each operator in turn signs in and confirms the digest.

The workflow enforces the rule (distinct enabled operators, the same digest, the typed
suffix); this screen only guides both people through it and shows any refusal in words.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, Input, Label, Static

from station.errors import StationError
from tui.format import digest_lines
from tui.messages import WorkFinished
from tui.screens.base import StepScreen
from tui.widgets import StepHeader

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
            yield Static(masked_digest(digest), id="approve-digest", classes="digest-view")
            with Horizontal(classes="form-row"):
                yield Label("Operator name", classes="form-label")
                yield Input(id="username", placeholder="your operator name", compact=True)
            with Horizontal(classes="form-row"):
                yield Label("PIN or passphrase", classes="form-label")
                yield Input(id="secret", password=True, placeholder="not shown", compact=True)
            with Horizontal(classes="form-row", id="suffix-row"):
                yield Label("Last 8 of the digest", classes="form-label")
                yield Input(id="suffix", max_length=8, placeholder="from the transfer request form",
                            compact=True)
            yield Static("", id="approve-error", classes="problem")
        yield Static("", classes="next-action")
        yield Footer()

    def on_mount(self) -> None:
        self._prompt()

    @property
    def order(self) -> int:
        """Which approval the form is for: 1, then 2."""
        return len(self.transfer.approvals) + 1

    def _prompt(self) -> None:
        second = self.order > 1
        self.query_one("#approver-title", Static).update(
            f"Approval {self.order} of 2: "
            + ("a second, different operator" if second else "first operator")
        )
        self.query_one("#suffix-row").display = second
        self.query_one(".next-action", Static).update(
            "Second operator: type your name and PIN, then the last 8 characters of the digest "
            "as written on the transfer request form, and press Enter."
            if second else
            "First operator: type your name and PIN and press Enter. Esc cancels the transfer."
        )
        for field in self.query(Input):
            field.value = ""
        self.query_one("#username", Input).focus()

    @on(Input.Submitted)
    def next_field(self, event: Input.Submitted) -> None:
        order = ["username", "secret", "suffix"] if self.order > 1 else ["username", "secret"]
        index = order.index(event.input.id or "username")
        if index < len(order) - 1:
            self.query_one(f"#{order[index + 1]}", Input).focus()
        else:
            self.submit()

    def submit(self) -> None:
        """Hand the form to the workflow (scrypt is slow: in a worker)."""
        if self.busy:
            return
        username = self.query_one("#username", Input).value.strip()
        secret = self.query_one("#secret", Input).value
        suffix = self.query_one("#suffix", Input).value.strip() if self.order > 1 else None
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
            self._prompt()
            self.query_one("#approve-error", Static).update(f"✘ Not approved: {text}")
            return
        self.query_one("#approve-error", Static).update("")
        if self.transfer.approvals_needed() > 0:
            self.notify("Approval recorded. Now a second, different operator.")
            self._prompt()
            return
        from tui.screens.importing import ImportScreen

        self.station_app.go_to(ImportScreen(self.transfer))

    def action_cancel(self) -> None:
        self.station_app.abort_transfer("the operators cancelled at the approval step")


def masked_digest(digest: str) -> str:
    """The digest with its last 8 characters hidden: those come from the request form."""
    lines = digest_lines(digest)
    if lines:
        lines[-1] = lines[-1][: -len("xxxx xxxx")] + "•••• ••••"
    return "Bundle digest (sha256), last 8 characters hidden:\n" + "\n".join(lines)
