"""StationApp: wires a media source and the station's transfers to one screen per step.

The app owns no procedure logic: `station.workflow.Transfer` decides what may happen next and
the screens render it. The app only reacts to media arriving and leaving, keeps the one active
transfer, and shows failures. It receives its core objects, so tests pass in real ones.
"""

from __future__ import annotations

import getpass
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from station.media.events import (
    DeviceInfo,
    MediaEvent,
    MediaInserted,
    MediaRemoved,
    MediaSource,
    MediaWatcherFailed,
    MediaWatcherRestarted,
    WatcherEvent,
)
from station.text import terminal_safe
from station.workflow import TransferState
from tui.keys import letter
from tui.messages import (
    MediaArrived,
    MediaGone,
    MediaRefused,
    MediaWatcherChanged,
    QuitRecorded,
    RefusalRecorded,
    TransferAborted,
    TransferOpened,
)
from tui.screens.failure import FailureScreen
from tui.screens.waiting import WaitingScreen
from tui.theme import STATION_THEME

if TYPE_CHECKING:
    from station.demo import DemoFeed
    from station.station import Station
    from station.workflow import Transfer

_WHEN = {
    "inserted": "before it was read",
    "inspected": "while its contents were shown",
    "verifying": "during verification",
    "verified": "after verification, before the approvals",
    "approved": "after the approvals, before the import",
    "importing": "during the import",
}
"""When, in the operator's words, a transfer in each state lost its media."""


def when_removed(transfer: Transfer) -> str:
    """When the media went, in words; during the approvals it says how many were given.

    Reads the approval book (which may record an expiry): call it from a worker.
    """
    state = transfer.state.value
    if transfer.state is TransferState.VERIFIED:
        given = len(transfer.approvals)
        if given:
            return f"during the approvals ({given} of 2 given)"
    return _WHEN.get(state, f"while the transfer was {state}")


def _system_user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return f"uid {os.getuid()}"


class StationApp(App[None], inherit_bindings=False):
    """The kiosk. `kiosk=True` (the default) leaves no way out but the admin credential."""

    CSS_PATH = Path(__file__).with_name("station.tcss")
    TITLE = "Transfer station"
    ENABLE_COMMAND_PALETTE = False
    # Textual declares this without ClassVar; narrow screens stack panes (see station.tcss).
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]  # noqa: RUF012
    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+c", "ignore", show=False, priority=True)]

    def __init__(
        self,
        station: Station,
        media: MediaSource | None = None,
        *,
        kiosk: bool = True,
        demo: DemoFeed | None = None,
    ) -> None:
        super().__init__()
        self.register_theme(STATION_THEME)
        self.theme = STATION_THEME.name
        self.station = station
        self.media = media
        self.kiosk = kiosk
        self.demo = demo
        self.transfer: Transfer | None = None
        self._arriving: DeviceInfo | None = None
        """The device whose transfer is being opened (a worker is creating it)."""
        if not kiosk:
            self.bind("ctrl+q", "quit_demo", description="Quit")
        if demo is not None:
            for binding in (letter("n", "demo_insert", "Demo: insert media"),
                            letter("u", "demo_remove", "Demo: pull media")):
                self.bind(binding.key, binding.action, description=binding.description,
                          key_display=binding.key_display)

    # --- lifecycle -------------------------------------------------------------------------

    def get_default_screen(self) -> Screen[Any]:
        return WaitingScreen()

    def on_mount(self) -> None:
        if self.media is not None:
            self.media.start(self._media_event)
        if self.demo is not None:
            self.demo.start()

    def on_unmount(self) -> None:
        if self.media is not None:
            self.media.stop()
        if self.demo is not None:
            self.demo.stop()

    def action_ignore(self) -> None:
        """Ctrl+C does nothing at a kiosk (Textual's default would hint at a quit key)."""

    @work(thread=True, exit_on_error=False, group="audit", name="recording the quit")
    def action_quit_demo(self) -> None:
        """Outside kiosk mode Ctrl+Q quits; the station leaving service is on record first."""
        self.station.audit.append("admin-action", actor=_system_user(), action="quit-demo")
        self.post_message(QuitRecorded())

    def on_quit_recorded(self, message: QuitRecorded) -> None:
        """The demo's Ctrl+Q or the admin's Q is on record: now the kiosk stops."""
        self.exit()

    # --- media -----------------------------------------------------------------------------

    def _media_event(self, event: MediaEvent) -> None:
        """Runs on the media source's thread: translate the event and post it, nothing else."""
        if isinstance(event, MediaInserted):
            if event.media is None:
                self.post_message(MediaRefused("the media cannot be read", event.device))
            else:
                self.post_message(MediaArrived(event.media.root, event.device))
        elif isinstance(event, MediaRemoved):
            self.post_message(MediaGone(event.device))
        elif isinstance(event, MediaWatcherFailed | MediaWatcherRestarted):
            self.post_message(MediaWatcherChanged(event))
        else:
            self.post_message(MediaRefused(event.reason, event.device))

    def say(self, message: str, **options: Any) -> None:
        """A notification: device names and errors may come from the media, so never markup."""
        self.notify(terminal_safe(message), markup=False, **options)

    def on_media_arrived(self, message: MediaArrived) -> None:
        if self.transfer is not None and not self.transfer.finished:
            self.say(
                "Other media was inserted while a transfer is running; it is ignored. "
                "Finish or remove the current media first.",
                severity="warning",
            )
            return
        if self.transfer is not None:  # finished, its media still in: drop what it staged
            self._close(self.transfer, "other media was inserted")
            self.transfer = None
        self.back_to_waiting()
        self._waiting_screen().reading = True
        self._arriving = message.device
        self._open_transfer(message.root, message.device)

    @work(thread=True, exit_on_error=False, group="transfer", name="reading the media")
    def _open_transfer(self, root: Path, device: DeviceInfo) -> None:
        self.station.audit.append("media-inserted", root=str(root), device=device.to_json())
        transfer = self.station.new_transfer(root, device)
        self.post_message(TransferOpened(transfer))

    def on_transfer_opened(self, message: TransferOpened) -> None:
        from tui.screens.contents import ContentsScreen

        transfer = message.transfer
        if self._arriving != transfer.device:  # pulled out before it was opened
            self._close(transfer, "the media was removed before it was read")
            return
        self._arriving = None
        self._waiting_screen().reading = False
        self.transfer = transfer
        self.push_screen(ContentsScreen(transfer))

    def on_refusal_recorded(self, message: RefusalRecorded) -> None:
        self.say(f"Device refused: {message.device.describe()}: {message.reason}",
                    severity="error", timeout=15)

    def on_transfer_aborted(self, message: TransferAborted) -> None:
        from tui.screens.aborted import AbortedScreen

        self.back_to_waiting()
        self.push_screen(AbortedScreen(message.reason))

    def on_media_gone(self, message: MediaGone) -> None:
        if message.device == self._arriving:
            self._arriving = None
            self._waiting_screen().reading = False
        transfer = self.transfer
        if transfer is None or message.device != transfer.device:
            self._record_media("media-removed", message.device)
            return
        self.transfer = None
        for worker in self.workers:
            if worker.group not in ("abort", "audit", "demo"):
                worker.cancel()  # hashing or importing stops at its next chunk
        if transfer.finished:
            self.back_to_waiting()
        self._close(transfer, None, removed=message.device, report=not transfer.finished)

    def on_media_refused(self, message: MediaRefused) -> None:
        self._record_media("media-refused", message.device, reason=message.reason)

    def on_media_watcher_changed(self, message: MediaWatcherChanged) -> None:
        self._record_watcher(message.event)

    @work(thread=True, exit_on_error=False, group="audit", name="recording the media watcher")
    def _record_watcher(self, event: WatcherEvent) -> None:
        """On record first, then on screen (notify is thread-safe) until it listens again."""
        if isinstance(event, MediaWatcherFailed):
            self.station.audit.append("media-watcher-failed", reason=event.reason,
                                      failures=event.failures, retry_in=event.retry_in)
            self.say(event.describe(), title="USB media", severity="error",
                        timeout=max(10.0, event.retry_in + 2))  # until the next attempt
        else:
            self.station.audit.append("media-watcher-restarted", failures=event.failures)
            self.say(event.describe(), title="USB media", timeout=10)

    @work(thread=True, exit_on_error=False, group="audit", name="recording a media event")
    def _record_media(self, event: str, device: DeviceInfo, **fields: str) -> None:
        """Media coming and going is evidence (a keyboard posing as a stick): audit it,
        then let the UI say so (the record is on disk before the screen shows it)."""
        self.station.audit.append(event, device=device.to_json(), **fields)
        if event == "media-refused":
            self.post_message(RefusalRecorded(device, fields.get("reason", "")))

    @work(thread=True, exit_on_error=False, group="abort", name="aborting the transfer")
    def _abort(self, transfer: Transfer, reason: str) -> None:
        transfer.abort(reason)

    @work(thread=True, exit_on_error=False, group="abort", name="closing the transfer")
    def _close(
        self,
        transfer: Transfer,
        reason: str | None,
        *,
        removed: DeviceInfo | None = None,
        report: bool = False,
    ) -> None:
        """Media gone or replaced: audit the removal, abort if still running, drop the staged
        copies; with `report`, the aborted screen follows once all that is on record.
        Without a `reason` the media was removed, and the reason says at which step."""
        if removed is not None:
            self.station.audit.append("media-removed", device=removed.to_json())
        if reason is None:
            reason = f"the media was removed {when_removed(transfer)}"
        transfer.abort(reason)
        transfer.close()
        if report:
            self.post_message(TransferAborted(reason))

    # --- navigation ------------------------------------------------------------------------

    def _waiting_screen(self) -> WaitingScreen:
        screen = self.screen_stack[0] if self.screen_stack else None
        if not isinstance(screen, WaitingScreen):
            raise TypeError("the waiting screen is always at the bottom of the stack")
        return screen

    def back_to_waiting(self) -> None:
        """Close every screen above the waiting screen (the transfer's steps, dialogs)."""
        while len(self.screen_stack) > 1:
            self.pop_screen()

    def go_to(self, screen: Screen[Any]) -> None:
        """Replace the current step with the next one (the waiting screen stays below)."""
        if len(self.screen_stack) > 1:
            self.switch_screen(screen)
        else:
            self.push_screen(screen)

    def confirm_abort(self, reason: str, what: str) -> None:
        """Ask before the operators' key throws the transfer away; abort on a yes."""
        from tui.screens.confirm import ConfirmDialog

        def answered(yes: bool | None) -> None:
            if yes:
                # The step's own workers stop first: their "stopped" is not a failure.
                self.workers.cancel_node(self.screen)
                self.abort_transfer(reason)

        self.push_screen(
            ConfirmDialog(
                "Cancel this transfer?",
                f"{what} Nothing from this media will be imported; to try again, remove the "
                "media and insert it again.",
                yes="Yes, cancel the transfer",
                no="No, go on",
            ),
            answered,
        )

    def abort_transfer(self, reason: str) -> None:
        """The operators stopped the transfer; the media may still be in."""
        from tui.screens.aborted import AbortedScreen

        transfer = self.transfer
        if transfer is not None and not transfer.finished:
            self._abort(transfer, reason)
        self.go_to(AbortedScreen(reason, media_present=transfer is not None))

    def open_admin(self) -> None:
        """Admin sign-in first; the admin screen only after the core said yes."""
        from tui.screens.admin import AdminLoginScreen, AdminScreen

        def logged_in(admin: str | None) -> None:
            if admin:
                self.push_screen(AdminScreen(admin))

        self.push_screen(AdminLoginScreen(), logged_in)

    @work(thread=True, exit_on_error=False, group="demo", name="inserting demo media")
    def action_demo_insert(self) -> None:
        """Copies the demo bundle into the media folder: file I/O, so in a worker."""
        if self.demo is not None:
            self.demo.insert_next()

    @work(thread=True, exit_on_error=False, group="demo", name="pulling demo media")
    def action_demo_remove(self) -> None:
        if self.demo is not None:
            self.demo.remove_current()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """App-level workers (opening a transfer, aborting) fail into the failure screen."""
        if event.state is WorkerState.ERROR and event.worker.error is not None:
            if event.worker.group in ("abort", "audit", "demo"):
                # The transfer is already over (or none is affected): say it, keep the screen.
                self.say(f"Failed {event.worker.name}: {event.worker.error}",
                            severity="error", timeout=30)
                return
            self.show_failure(event.worker.error, during=event.worker.name)

    def show_failure(self, error: BaseException, *, during: str = "") -> None:
        """A worker failed: abort the transfer it belonged to and say what to do."""
        transfer = self.transfer
        if transfer is not None and not transfer.finished:
            self._abort(transfer, f"{during or 'a step'} failed: {error}")
        media_root = transfer.media_root if transfer is not None else None
        self.go_to(FailureScreen(error, during=during, media_root=media_root))
