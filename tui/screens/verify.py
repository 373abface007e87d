"""Step 3: hash every file into staging and check the signatures, then give the verdict.

An accepted bundle that was imported before says when, by whom and into which target, and
approving it again needs an explicit confirmation, which is audited.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.reactive import reactive
from textual.widgets import Footer, Static

from station.progress import Progress
from station.verify.policy import OVERRIDABLE
from station.verify.verification import Verification
from tui.format import local_and_utc, plural
from tui.keys import letter
from tui.messages import ReimportConfirmed, VerificationDone, WorkProgress
from tui.safe_text import SafeText
from tui.screens.base import StepScreen
from tui.widgets import StepHeader, TransferProgress
from tui.widgets.scroll_pane import ScrollPane
from tui.widgets.verification_view import VerificationView

if TYPE_CHECKING:
    from station.station import PastImport
    from station.workflow import Transfer


def previous_import_lines(previous: tuple[PastImport, ...]) -> list[str]:
    """One line per earlier import: when (local and UTC), into what, approved by whom."""
    lines = []
    for past in previous:
        who = " and ".join(past.approvers) or "(approvers not on record)"
        lines.append(f"  {local_and_utc(past.time, seconds=False)} into {past.target}, "
                     f"approved by {who}")
    return lines


class VerifyScreen(StepScreen):
    """Overall and per-file progress while the worker runs; the verdict when it ends."""

    BINDINGS: ClassVar[list[BindingType]] = [
        letter("a", "approve", "Go to approval"),
        Binding("escape", "stop", "Stop", key_display="Esc"),
        letter("o", "override", "Admin override: accept an older release"),
    ]

    verification: reactive[Verification | None] = reactive(None, init=False, bindings=True)
    """The verdict, once the worker (or an earlier visit) has it."""

    previous: reactive[tuple[PastImport, ...] | None] = reactive(None, init=False,
                                                                 bindings=True)
    """Earlier imports of this bundle (found after an accepted verdict); None: not yet known."""

    def __init__(self, transfer: Transfer) -> None:
        super().__init__(classes="verify-screen")
        self.transfer = transfer
        self.files_done: list[str] = []
        self.current_file: str | None = None

    def compose(self) -> ComposeResult:
        yield StepHeader(3, "Verify files and signatures")
        with ScrollPane(id="verify-body"), Vertical(id="verify-progress"):
            yield TransferProgress("All files", id="overall")
            yield TransferProgress("Current file", id="current")
            yield Static("", id="files-done")
        yield Static("Checking every file against the signed list…", classes="next-action")
        yield Footer()

    def on_mount(self) -> None:
        if self.transfer.verification is None:
            # Draw the screen first: once hashing runs, the GIL is shared with it.
            self.call_after_refresh(self.verify)
        else:
            self.look_up_previous(self.transfer.verification)

    @work(thread=True, exit_on_error=False, exclusive=True, group="verify",
          name="verification")
    def verify(self) -> None:
        # No cancel event of the worker's own: Transfer.abort() stops the hashing after it
        # has recorded why (media removed, operator stopped), so the audit log keeps the
        # real reason instead of a bare "verification stopped".
        result = self.transfer.verify(on_progress=self.post_progress)
        self.post_message(VerificationDone(result, self._previous_imports(result)))

    @work(thread=True, exit_on_error=False, exclusive=True, group="verify",
          name="looking up earlier imports")
    def look_up_previous(self, verification: Verification) -> None:
        self.post_message(VerificationDone(verification, self._previous_imports(verification)))

    def _previous_imports(self, verification: Verification) -> tuple[PastImport, ...]:
        """Worker thread: one read of the audit log, for accepted bundles only."""
        if not verification.accepted:
            return ()
        return self.station_app.station.previous_imports(verification.bundle_digest)

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
            lines.insert(0, f"✔ … {plural(len(self.files_done) - len(recent), 'more file')} "
                            "checked")
        self.query_one("#files-done", Static).update(SafeText("\n".join(lines)))

    def on_verification_done(self, message: VerificationDone) -> None:
        message.stop()
        self.previous = message.previous_imports
        self.verification = message.verification

    def watch_verification(self, verification: Verification | None) -> None:
        if verification is None:
            return
        self.query_one("#verify-progress").display = False
        body = self.query_one("#verify-body", ScrollPane)
        body.mount(VerificationView(verification, id="verdict-view"))
        if self.previous:
            body.mount(Static(SafeText("\n".join([
                f"! Already imported {plural(len(self.previous), 'time')}:",
                *previous_import_lines(self.previous),
                "Importing it again needs your confirmation (on record)."])),
                id="reimport-notice", classes="warning"), before=0)
        body.focus()
        if verification.accepted:
            again = " again (you will be asked to confirm)" if self.previous else ""
            text = (f"Next: press A to approve{again}. Read the bundle digest aloud and compare "
                    "it with the transfer request form.")
        elif self._overridable():
            text = ("Rejected only as an older release. Remove the media, or an admin presses "
                    "O to accept it on purpose (audited).")
        else:
            text = "Remove the media. Nothing from it will be imported."
        self.query_one(".next-action", Static).update(text)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "approve":
            return (self.verification is not None and bool(self.verification.accepted)
                    and self.previous is not None)
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
        from tui.screens.confirm import ConfirmDialog

        if self.verification is None or not self.verification.accepted:
            return
        if not self.previous or self.transfer.reimport_confirmed:
            self._to_approval()
            return
        previous = self.previous

        def answered(yes: bool | None) -> None:
            if yes:
                self.confirm_reimport(previous)

        self.app.push_screen(ConfirmDialog(
            "Import this bundle again?",
            "It was imported before:\n" + "\n".join(previous_import_lines(previous))
            + "\nYour confirmation goes into the audit log.",
            yes="Yes, approve it again", no="No, go back"), answered)

    @work(thread=True, exit_on_error=False, group="reimport", name="recording the re-import")
    def confirm_reimport(self, previous: tuple[PastImport, ...]) -> None:
        self.transfer.confirm_reimport([p.to_json() for p in previous])
        self.post_message(ReimportConfirmed())

    def on_reimport_confirmed(self, message: ReimportConfirmed) -> None:
        message.stop()
        self._to_approval()

    def _to_approval(self) -> None:
        from tui.screens.approve import ApproveScreen

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
        """Stop verifying, after a yes: aborting stops the hashing at its next chunk."""
        self.station_app.confirm_abort(
            "the operator stopped the verification",
            "Verification stops and the copies made so far are removed.")
