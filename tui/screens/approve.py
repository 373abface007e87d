"""Step 4: the two-person rule. Each operator in turn signs in and confirms the digest.

The workflow enforces the rule (distinct enabled operators, the same digest, the typed
suffix, the roles, the expiry); this screen guides both people through it: it shows what is
being approved, who approved when and how long that still counts (the core is asked every
second, so an expiry is on record and on screen when it happens), who may go next, and any
refusal in words. After a refused role the approvals can start again (audited).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.widgets import Footer, Input, Label, Static

from station.approval import ApprovalError, ApprovalState, roles_in_words
from station.errors import StationError
from station.workflow import StepRefused, TransferState
from tui.messages import ApprovalGiven, ApprovalRefused, ApprovalsRestarted, ApprovalStateRead
from tui.safe_text import SafeText
from tui.screens.base import StepScreen
from tui.widgets import StepHeader
from tui.widgets.approval_view import prompt_text, state_text, subject_text
from tui.widgets.scroll_pane import ScrollPane
from tui.widgets.steady_input import SteadyInput

if TYPE_CHECKING:
    from station.workflow import Transfer

TICK_SECONDS = 1.0
"""How often the screen asks the core for the approvals (and so records any expiry)."""

HEX_ONLY = r"[0-9a-fA-F ]*"


class ApproveScreen(StepScreen):
    """One form per approval; the second approver also types the digest's last 8 characters."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel the transfer", key_display="Esc"),
        Binding("ctrl+r", "restart", "Start the approvals again", key_display="Ctrl+R",
                priority=True),
    ]

    state: reactive[ApprovalState | None] = reactive(None, init=False, bindings=True)
    """The approvals as the core last reported them (every second, and after each answer)."""

    busy: reactive[bool] = reactive(False, init=False, bindings=True)
    """A form is with the core (scrypt takes a moment): a second Enter does nothing."""

    def __init__(self, transfer: Transfer) -> None:
        super().__init__(classes="approve-screen")
        self.transfer = transfer
        self._order: int | None = None
        self._role_refused = False

    def compose(self) -> ComposeResult:
        yield StepHeader(4, "Two operators approve")
        verification = self.transfer.verification
        digest = verification.bundle_digest if verification is not None else ""
        with ScrollPane(id="approve-body"):
            yield Static(subject_text(self.transfer.bundle, digest), id="approve-subject",
                         classes="panel")
            yield Static("", id="approval-state")
            yield Static("", id="approver-title", classes="section-title")
            with Vertical(id="approve-form"):
                with Horizontal(classes="form-row"):
                    yield Label("Operator name", classes="form-label")
                    yield SteadyInput(id="username", placeholder="your operator name", compact=True)
                with Horizontal(classes="form-row"):
                    yield Label("PIN or passphrase", classes="form-label")
                    yield SteadyInput(id="secret", password=True, placeholder="not shown",
                                compact=True)
                with Horizontal(classes="form-row", id="suffix-row"):
                    yield Label("Last 8 of the digest", classes="form-label")
                    yield SteadyInput(id="suffix", max_length=16, restrict=HEX_ONLY, compact=True,
                                placeholder="from the request form: 0-9 a-f")
            yield Static("", id="approve-error", classes="problem")
        yield Static("", classes="next-action")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#approve-subject").border_title = "What you approve"
        self.query_one("#username", Input).focus()
        self.refresh_state()
        self.set_interval(TICK_SECONDS, self.refresh_state)

    # --- the book, every second ------------------------------------------------------------

    @work(thread=True, exclusive=True, exit_on_error=False, group="approval-state",
          name="reading the approvals")
    def refresh_state(self) -> None:
        """Ask the core; it records any expiry before it answers."""
        try:
            state = self.transfer.approval_state()
        except StepRefused:  # the transfer ended meanwhile: the app says why
            return
        self.post_message(ApprovalStateRead(state))

    def on_approval_state_read(self, message: ApprovalStateRead) -> None:
        message.stop()
        self.state = message.state

    def watch_state(self, state: ApprovalState | None) -> None:
        if state is None:
            return
        self.query_one("#approval-state", Static).update(state_text(state))
        if state.next_order != self._order:
            self._prompt(state)

    def _prompt(self, state: ApprovalState) -> None:
        """A new turn: whose it is, which fields, what to do."""
        first_time = self._order is None
        self._order = state.next_order
        second = state.next_order == 2
        self.query_one("#approver-title", Static).update(SafeText(prompt_text(state)))
        self.query_one("#suffix-row").display = second
        if second:
            text = ("Second operator: type your name and PIN, then the last 8 characters of "
                    "the digest as written on the transfer request form (spaces and case do "
                    "not matter), and press Enter.")
        else:
            text = "First operator: type your name and PIN and press Enter."
        if not first_time and state.expired and not second:
            text = "An approval expired. " + text
        self.query_one(".next-action", Static).update(text + " Esc cancels the transfer.")

    # --- one form --------------------------------------------------------------------------

    @on(Input.Submitted)
    def next_field(self, event: Input.Submitted) -> None:
        second = self._order == 2
        order = ["username", "secret", "suffix"] if second else ["username", "secret"]
        index = order.index(event.input.id or "username")
        if index < len(order) - 1:
            self.query_one(f"#{order[index + 1]}", Input).focus()
        else:
            self.submit()

    def submit(self) -> None:
        """Hand the form to the workflow (scrypt is slow: in a worker)."""
        if self.busy:
            return
        username = self.query_one("#username", Input).value
        secret = self.query_one("#secret", Input).value
        suffix = self.query_one("#suffix", Input).value if self._order == 2 else None
        self.busy = True
        self.query_one("#approve-error", Static).update("Checking…")
        self.approve(username, secret, suffix)

    @work(thread=True, exit_on_error=False, group="approve", name="approval")
    def approve(self, username: str, secret: str, suffix: str | None) -> None:
        try:
            approval = self.transfer.approve(username, secret, suffix)
        except StationError as refused:
            self.post_message(ApprovalRefused(refused, self.transfer.approval_state()))
            return
        self.post_message(ApprovalGiven(approval, self.transfer.approval_state()))

    def on_approval_refused(self, message: ApprovalRefused) -> None:
        message.stop()
        self.busy = False
        error = message.error
        self._role_refused = (isinstance(error, ApprovalError) and error.code == "wrong-role"
                              and bool(message.state.approvals))
        self._clear_form()
        self.state = message.state
        text = error.message + (f" — {error.hint}" if error.hint else "")
        self.query_one("#approve-error", Static).update(SafeText(f"✘ Not approved: {text}"))
        if self._role_refused:
            who = " and ".join(a.operator for a in message.state.approvals)
            self.query_one(".next-action", Static).update(
                f"Let {roles_in_words(message.state.next_roles)} approve second, or press "
                f"Ctrl+R to start the approvals again ({who}'s approval is dropped, on "
                "record). Esc cancels the transfer.")
        self.refresh_bindings()

    def on_approval_given(self, message: ApprovalGiven) -> None:
        message.stop()
        self.busy = False
        self._role_refused = False
        self.query_one("#approve-error", Static).update("")
        if self.transfer.state is TransferState.APPROVED:
            from tui.screens.importing import ImportScreen

            self.station_app.go_to(ImportScreen(self.transfer))
            return
        self._clear_form()
        self.state = message.state

    def _clear_form(self) -> None:
        """After each answer the form is empty and the name field has the focus, so nothing
        typed next is spent as a PIN."""
        for field in self.query(Input):
            field.value = ""
        self.query_one("#username", Input).focus()

    # --- starting again, cancelling --------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "restart":
            return self.state is not None and bool(self.state.approvals) and not self.busy
        return True

    def action_restart(self) -> None:
        from tui.screens.confirm import ConfirmDialog

        state = self.state
        if state is None or not state.approvals:
            return
        who = " and ".join(a.operator for a in state.approvals)

        def answered(yes: bool | None) -> None:
            if yes:
                self.restart()

        self.app.push_screen(ConfirmDialog(
            "Start the approvals again?",
            f"The approval given so far ({who}) is dropped and both operators approve again. "
            "This goes into the audit log.",
            yes="Yes, start again", no="No, go on"), answered)

    @work(thread=True, exit_on_error=False, group="approve", name="restarting the approvals")
    def restart(self) -> None:
        reason = ("the operators started the approvals again after a refused role"
                  if self._role_refused else "the operators started the approvals again")
        dropped = self.transfer.restart_approvals(reason)
        self.post_message(ApprovalsRestarted(dropped, self.transfer.approval_state()))

    def on_approvals_restarted(self, message: ApprovalsRestarted) -> None:
        message.stop()
        self._role_refused = False
        self._order = None
        self.query_one("#approve-error", Static).update("")
        self._clear_form()
        self.state = message.state
        self._prompt(message.state)

    def action_cancel(self) -> None:
        self.station_app.confirm_abort(
            "the operators cancelled at the approval step",
            "The approvals given so far are dropped.")
