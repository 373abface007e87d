"""Step 3: hash every file into staging and check the signatures, then give the verdict."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Footer, Static

from station.progress import Progress
from station.verify.policy import OVERRIDABLE
from station.verify.verification import Verification
from tui.messages import WorkFinished, WorkProgress
from tui.screens.base import StepScreen
from tui.widgets import StepHeader, TransferProgress
from tui.widgets.verification_view import VerificationView

if TYPE_CHECKING:
    from station.workflow import Transfer


class VerifyScreen(StepScreen):
    """Overall and per-file progress while the worker runs; the verdict when it ends."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "approve", "Go to approval"),
        Binding("escape", "stop", "Stop"),
        Binding("o", "override", "Admin override: accept an older release"),
    ]

    def __init__(self, transfer: Transfer) -> None:
        super().__init__(classes="verify-screen")
        self.transfer = transfer
        self.verification: Verification | None = transfer.verification
        self.files_done: list[str] = []
        self.current_file: str | None = None

    def compose(self) -> ComposeResult:
        yield StepHeader(3, "Verify files and signatures")
        with VerticalScroll(id="verify-body"), Vertical(id="verify-progress", classes="panel"):
            yield TransferProgress("All files", id="overall")
            yield TransferProgress("Current file", id="current")
            yield Static("", id="files-done")
        yield Static("Checking every file against the signed list…", classes="next-action")
        yield Footer()

    def on_mount(self) -> None:
        if self.verification is None:
            # Draw the screen first: once hashing runs, the GIL is shared with it.
            self.call_after_refresh(self.verify)
        else:
            self._show(self.verification)

    @work(thread=True, exit_on_error=False, exclusive=True, group="verify",
          name="verification")
    def verify(self) -> None:
        # No cancel event of the worker's own: Transfer.abort() stops the hashing after it
        # has recorded why (media removed, operator stopped), so the audit log keeps the
        # real reason instead of a bare "verification stopped".
        result = self.transfer.verify(on_progress=self.post_progress)
        self.post_message(WorkFinished("verification", result))

    def on_work_progress(self, message: WorkProgress) -> None:
        message.stop()
        self.show_progress(message.progress)

    def show_progress(self, progress: Progress) -> None:
        """Draw one report: overall bar, the current file's bar, the files finished."""
        self.query_one("#overall", TransferProgress).show(progress)
        if progress.path is None:
            return
        if self.current_file is not None and progress.path != self.current_file:
            self.files_done.append(self.current_file)
        self.current_file = progress.path
        per_file = Progress(progress.path_done, progress.path_total, progress.elapsed)
        self.query_one("#current", TransferProgress).show(
            per_file, label=f"Current file: {progress.path}", rate=False
        )
        recent = self.files_done[-5:]
        lines = [f"✔ {path}" for path in recent]
        if len(self.files_done) > len(recent):
            lines.insert(0, f"✔ … {len(self.files_done) - len(recent)} more files checked")
        self.query_one("#files-done", Static).update(Text("\n".join(lines)))

    def on_work_finished(self, message: WorkFinished) -> None:
        if message.kind == "verification":
            message.stop()
            self._show(message.result)

    def _show(self, verification: Verification) -> None:
        self.verification = verification
        self.query_one("#verify-progress").display = False
        self.query_one("#verify-body").mount(VerificationView(verification, id="verdict-view"))
        if verification.accepted:
            text = ("Next: press A to approve. Read the bundle digest aloud and compare it "
                    "with the transfer request form.")
        elif self._overridable():
            text = ("Rejected only as an older release. Remove the media, or an admin presses "
                    "O to accept it on purpose (audited).")
        else:
            text = "Remove the media. Nothing from it will be imported."
        self.query_one(".next-action", Static).update(text)
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "approve":
            return self.verification is not None and bool(self.verification.accepted)
        if action == "stop":
            return self.verification is None
        if action == "override":
            return self._overridable()
        return True

    def _overridable(self) -> bool:
        """Rejected for rollback and nothing else: the one verdict an admin may overturn."""
        verification = self.verification
        return (
            verification is not None
            and not verification.accepted
            and bool(verification.problems)
            and all(p.code in OVERRIDABLE for p in verification.problems)
        )

    def action_approve(self) -> None:
        from tui.screens.approve import ApproveScreen

        if self.verification is not None and self.verification.accepted:
            self.station_app.go_to(ApproveScreen(self.transfer))

    def action_override(self) -> None:
        """The admin's dialog; once the core accepted the override, verify from scratch."""
        from tui.screens.override import RollbackOverrideScreen

        if not self._overridable():
            return
        transfer = self.transfer

        def overridden(accepted: bool | None) -> None:
            if accepted and self.station_app.transfer is transfer:
                self.station_app.go_to(VerifyScreen(transfer))

        self.app.push_screen(RollbackOverrideScreen(transfer), overridden)

    def action_stop(self) -> None:
        """Stop verifying: aborting the transfer stops the hashing at its next chunk."""
        self.workers.cancel_group(self, "verify")
        self.station_app.abort_transfer("the operator stopped the verification")
