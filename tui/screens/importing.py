"""Step 5: import the verified copies into the target, as a checklist with live progress.

With more than one target configured, the operators first choose where to import: each
target is checked in a worker and only a reachable one can be chosen. With only the store,
the import starts at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.reactive import reactive
from textual.widgets import Footer, Static
from textual.worker import get_current_worker

from station.errors import StationError
from station.importing.base import ImportTarget, StepEvent
from station.workflow import TransferState
from tui.keys import letter
from tui.messages import ImportDone, ImportFailed, ImportStep, TargetChecked, WorkProgress
from tui.safe_text import SafeText
from tui.screens.base import StepScreen
from tui.widgets import StepHeader, TransferProgress
from tui.widgets.scroll_pane import ScrollPane
from tui.widgets.target_choice import TargetChoice

if TYPE_CHECKING:
    from station.workflow import Transfer

_MARKS = {"started": "▶", "done": "✔", "skipped": "-", "failed": "✘"}


class ImportScreen(StepScreen):
    """Runs `Transfer.import_into` in a worker, for the target given, the only one configured,
    or the one the operators choose."""

    BINDINGS: ClassVar[list[BindingType]] = [
        letter("r", "retry", "Retry the import"),
        letter("c", "recheck", "Check the targets again"),
        letter("t", "choose_again", "Choose another target"),
        Binding("escape", "cancel", "Cancel the transfer", key_display="Esc"),
    ]

    choosing: reactive[bool] = reactive(False, init=False, bindings=True)
    """The operators are choosing the target (with more than one configured)."""

    failed: reactive[bool] = reactive(False, init=False, bindings=True)
    """The import stopped with a reason shown on screen; R (and T) may follow."""

    def __init__(self, transfer: Transfer, target: ImportTarget | None = None) -> None:
        super().__init__(classes="import-screen")
        self.transfer = transfer
        self.target = target
        self.choices: list[ImportTarget] = []
        """The configured targets when there is a choice (more than one), else empty."""
        self.steps: dict[str, tuple[str, str]] = {}

    def compose(self) -> ComposeResult:
        if self.target is None:
            targets = self.station_app.station.targets()
            if len(targets) > 1:
                self.choices = targets
            else:
                self.target = targets[0]
        yield StepHeader(5, "Import into the station's store")
        if self.choices:
            with Vertical(classes="panel", id="choose-panel"):
                yield Static("Where should the images and files go?", classes="section-title")
                yield TargetChoice(self.choices, id="target-choice")
        with ScrollPane(id="import-panel"):
            yield Static("", id="target-line")
            yield Static("", id="checklist")
            yield TransferProgress("Copying", id="import-progress")
            yield Static("", id="import-error", classes="problem")
        yield Static("Importing. Leave the media in until this step is done.",
                     classes="next-action")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#import-error").display = False
        if self.target is None:
            self._choose()
        else:
            self._start(self.target)

    # --- choosing the target ---------------------------------------------------------------

    def _choose(self) -> None:
        """Show the targets, check each in its own worker (a slow one holds no other)."""
        self.choosing = True
        self.query_one("#choose-panel").display = True
        self.query_one("#import-panel").display = False
        self._header("Choose where to import")
        self.query_one(".next-action", Static).update(
            "Choose where to import with the arrow keys and press Enter. "
            "C checks the targets again; Esc cancels the transfer.")
        choice = self.query_one(TargetChoice)
        choice.start_checks()
        choice.focus()
        for index, target in enumerate(self.choices):
            self.check_target(index, target)

    @work(thread=True, exit_on_error=False, group="targets", name="checking an import target")
    def check_target(self, index: int, target: ImportTarget) -> None:
        """`check()` may block on a socket. A check that breaks counts as not reachable."""
        try:
            problem = target.check()
        except Exception as exc:  # any failure means "cannot be chosen"
            problem = f"the check failed: {exc}"
        self.post_message(TargetChecked(index, problem))

    def on_target_checked(self, message: TargetChecked) -> None:
        message.stop()
        if self.choosing:
            self.query_one(TargetChoice).show_check(message.index, message.problem)

    def on_target_choice_chosen(self, message: TargetChoice.Chosen) -> None:
        message.stop()
        if self.choosing:
            self._start(message.target)

    def action_recheck(self) -> None:
        self._choose()

    def action_choose_again(self) -> None:
        """After a failed import, another target may do (the checklist starts afresh)."""
        self.failed = False
        self.steps.clear()
        self.query_one("#checklist", Static).update("")
        self.query_one("#import-error").display = False
        self._choose()

    # --- importing -------------------------------------------------------------------------

    def _header(self, what: str) -> None:
        header = self.query_one(StepHeader)
        header.update(SafeText(f"Step {header.step} of {header.total} — {what}"))

    def _start(self, target: ImportTarget) -> None:
        self.choosing = False
        self.target = target
        if self.choices:
            self.query_one("#choose-panel").display = False
            self.query_one("#import-panel").display = True
            self.query_one(".next-action", Static).update(
                "Importing. Leave the media in until this step is done.")
        self.query_one("#target-line", Static).update(SafeText(f"Target: {target.describe()}"))
        self._header(f"Import into {target.name}")
        self.run_import(target)

    @work(thread=True, exit_on_error=False, exclusive=True, group="import", name="the import")
    def run_import(self, target: ImportTarget) -> None:
        """Import; a refusal or failure the core explains stays on this screen (retry)."""
        worker = get_current_worker()
        try:
            receipt = self.transfer.import_into(
                target,
                on_progress=self.post_progress,
                on_step=self.post_step,
                cancel=worker.cancelled_event,
            )
        except StationError as failed:
            if worker.is_cancelled:
                return
            self.post_message(ImportFailed(failed))
            return
        self.post_message(ImportDone(receipt))

    def post_step(self, event: StepEvent) -> None:
        """Runs on the worker thread: one import step changed."""
        self.post_message(ImportStep(event.step.description, event.status, event.detail))

    def on_work_progress(self, message: WorkProgress) -> None:
        message.stop()
        self.query_one("#import-progress", TransferProgress).show(message.progress)

    def on_import_step(self, message: ImportStep) -> None:
        message.stop()
        self.steps[message.name] = (message.status, message.detail)
        lines = SafeText()
        for name, (status, detail) in self.steps.items():
            lines.append(f"{_MARKS.get(status, '?')} {name}")
            if detail:
                lines.append(f" — {detail}")
            lines.append("\n")
        self.query_one("#checklist", Static).update(lines)

    def on_import_done(self, message: ImportDone) -> None:
        message.stop()
        from tui.screens.done import DoneScreen

        self.station_app.go_to(DoneScreen(self.transfer, message.receipt))

    def on_import_failed(self, message: ImportFailed) -> None:
        message.stop()
        error = message.error
        self.failed = True
        hint = error.hint or "call the administrator"
        self.query_one("#import-error").display = True
        self.query_one("#import-error", Static).update(
            SafeText(f"✘ The import stopped: {error.message}\nWhat to do: {hint}")
        )
        can_retry = self.transfer.state is TransferState.APPROVED
        other = ", T to choose another target" if self.choices else ""
        self.query_one(".next-action", Static).update(
            "Fix the cause, then press R to import again (images already copied stay)"
            f"{other}, or Esc to cancel the transfer." if can_retry else
            "The approvals are no longer valid: press Esc, remove the media and start again."
        )

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "retry":
            return self.failed and self.transfer.state is TransferState.APPROVED
        if action == "choose_again":
            return (self.failed and bool(self.choices)
                    and self.transfer.state is TransferState.APPROVED)
        if action == "recheck":
            return self.choosing
        if action == "cancel":
            return self.failed or self.choosing
        return True

    def action_retry(self) -> None:
        if self.target is None:
            return
        self.failed = False
        self.query_one("#import-error").display = False
        self.query_one(".next-action", Static).update(
            "Importing again. Leave the media in until this step is done.")
        self.run_import(self.target)

    def action_cancel(self) -> None:
        if self.choosing:
            self.station_app.confirm_abort(
                "the operators cancelled when choosing the import target",
                "Nothing has been imported yet.")
        else:
            self.station_app.confirm_abort(
                "the import failed and the operators cancelled",
                "Images already copied stay in the target.")
