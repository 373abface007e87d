"""Step 1: nothing inserted yet. Says what to do and shows that the station is healthy."""

from __future__ import annotations

from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Vertical
from textual.reactive import reactive
from textual.widgets import Footer, Static

from tui.keys import letter
from tui.messages import StatusRead
from tui.safe_text import SafeText
from tui.screens.base import StepScreen
from tui.widgets import StepHeader
from tui.widgets.scroll_pane import ScrollPane
from tui.widgets.status_view import StationStatusView

INSERT = "Insert the transfer media (USB stick)."
READING = "Media inserted: reading it… Leave it in."


class WaitingScreen(StepScreen):
    """"Insert transfer media", the station status and the last transfers."""

    BINDINGS: ClassVar[list[BindingType]] = [
        letter("a", "admin", "Admin"),
        letter("r", "refresh", "Refresh status"),
    ]

    reading: reactive[bool] = reactive(False, init=False)
    """Media went in and its transfer is being opened: the screen must not say "insert"."""

    def __init__(self) -> None:
        super().__init__(classes="waiting-screen")

    def compose(self) -> ComposeResult:
        yield StepHeader(1, "Insert transfer media")
        with Vertical(id="insert-prompt", classes="panel"):
            yield Static(INSERT, id="insert-line", classes="next-action")
            yield Static(
                "The station reads it without writing to it, shows what it holds, checks every "
                "file and signature, and imports nothing until two operators approve.",
                classes="explain",
            )
        with ScrollPane(id="status-pane"):
            yield Static("", id="demo-hint")
            yield StationStatusView(id="station-status")
        yield Footer()

    def on_mount(self) -> None:
        demo = self.station_app.demo
        hint = self.query_one("#demo-hint", Static)
        if demo is None:
            hint.display = False
        else:
            hint.update(SafeText(demo.hint()))
        self.query_one("#status-pane").focus()
        self.action_refresh()

    def watch_reading(self, reading: bool) -> None:
        self.query_one("#insert-line", Static).update(READING if reading else INSERT)

    def on_screen_resume(self) -> None:
        self.action_refresh()

    def action_refresh(self) -> None:
        self.load_status()

    @work(thread=True, exit_on_error=False, exclusive=True, group="status",
          name="reading the station status")
    def load_status(self) -> None:
        self.post_message(StatusRead(self.station_app.station.status()))

    def on_status_read(self, message: StatusRead) -> None:
        message.stop()
        self.query_one(StationStatusView).show(message.status)

    def action_admin(self) -> None:
        self.station_app.open_admin()
