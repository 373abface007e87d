"""Step 5: import the verified copies into the target, as a checklist with live progress."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import Footer, Static
from textual.worker import get_current_worker

from station.errors import StationError
from station.importing.base import ImportTarget, StepEvent
from station.workflow import TransferState
from tui.messages import ImportStep, WorkFinished, WorkProgress
from tui.screens.base import StepScreen
from tui.widgets import StepHeader, TransferProgress

if TYPE_CHECKING:
    from station.workflow import Transfer

_MARKS = {"started": "▶", "done": "✔", "skipped": "-", "failed": "✘"}


class ImportScreen(StepScreen):
    """Runs `Transfer.import_into` for the station's default target in a worker."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "retry", "Retry the import"),
        Binding("escape", "cancel", "Cancel the transfer"),
    ]

    def __init__(self, transfer: Transfer, target: ImportTarget | None = None) -> None:
        super().__init__(classes="import-screen")
        self.transfer = transfer
        self.target = target
        self.steps: dict[str, tuple[str, str]] = {}
        self.failed = False

    def compose(self) -> ComposeResult:
        yield StepHeader(5, "Import into the station's store")
        with Vertical(classes="panel"):
            yield Static("", id="target-line")
            yield Static("", id="checklist")
            yield TransferProgress("Copying", id="import-progress")
            yield Static("", id="import-error", classes="problem")
        yield Static("Importing. Leave the media in until this step is done.",
                     classes="next-action")
        yield Footer()

    def on_mount(self) -> None:
        target = self.target or self.station_app.station.targets()[0]
        self.target = target
        self.query_one("#import-error").display = False
        self.query_one("#target-line", Static).update(Text(f"Target: {target.describe()}"))
        self.query_one(StepHeader).update(f"Step 5 of 6 — Import into {target.name}")
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
            self.post_message(WorkFinished("import-failed", failed))
            return
        self.post_message(WorkFinished("receipt", receipt))

    def post_step(self, event: StepEvent) -> None:
        """Runs on the worker thread: one import step changed."""
        self.post_message(ImportStep(event.step.description, event.status, event.detail))

    def on_work_progress(self, message: WorkProgress) -> None:
        message.stop()
        self.query_one("#import-progress", TransferProgress).show(message.progress)

    def on_import_step(self, message: ImportStep) -> None:
        message.stop()
        self.steps[message.name] = (message.status, message.detail)
        lines = Text()
        for name, (status, detail) in self.steps.items():
            lines.append(f"{_MARKS.get(status, '?')} {name}")
            if detail:
                lines.append(f" — {detail}")
            lines.append("\n")
        self.query_one("#checklist", Static).update(lines)

    def on_work_finished(self, message: WorkFinished) -> None:
        message.stop()
        if message.kind == "import-failed":
            self._show_failure(message.result)
            return
        from tui.screens.done import DoneScreen

        self.station_app.go_to(DoneScreen(self.transfer, message.result))

    def _show_failure(self, error: StationError) -> None:
        self.failed = True
        hint = error.hint or "call the administrator"
        self.query_one("#import-error").display = True
        self.query_one("#import-error", Static).update(
            Text(f"✘ The import stopped: {error.message}\nWhat to do: {hint}")
        )
        can_retry = self.transfer.state is TransferState.APPROVED
        self.query_one(".next-action", Static).update(
            "Fix the cause, then press R to import again (images already copied stay), "
            "or Esc to cancel the transfer." if can_retry else
            "The approvals are no longer valid: press Esc, remove the media and start again."
        )
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "retry":
            return self.failed and self.transfer.state is TransferState.APPROVED
        if action == "cancel":
            return self.failed
        return True

    def action_retry(self) -> None:
        if self.target is None:
            return
        self.failed = False
        self.query_one("#import-error").display = False
        self.query_one(".next-action", Static).update(
            "Importing again. Leave the media in until this step is done.")
        self.refresh_bindings()
        self.run_import(self.target)

    def action_cancel(self) -> None:
        self.station_app.abort_transfer("the import failed and the operators cancelled")
