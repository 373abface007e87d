"""Step 1: nothing inserted yet. Says what to do and shows that the station is healthy."""

from __future__ import annotations

from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, Static

from tui.messages import WorkFinished
from tui.screens.base import StepScreen
from tui.widgets import StepHeader
from tui.widgets.status_view import StationStatusView


class WaitingScreen(StepScreen):
    """"Insert transfer media", the station status and the last transfers."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "admin", "Admin"),
        Binding("r", "refresh", "Refresh status"),
    ]

    def __init__(self) -> None:
        super().__init__(classes="waiting-screen")

    def compose(self) -> ComposeResult:
        yield StepHeader(1, "Insert transfer media")
        with Vertical(id="insert-prompt", classes="panel"):
            yield Static("Insert the transfer media (USB stick).", classes="next-action")
            yield Static(
                "The station reads it without writing to it, shows what it holds, checks every "
                "file and signature, and imports nothing until two operators approve.",
                classes="explain",
            )
            yield Static("", id="demo-hint")
        with Horizontal(id="status-row"):
            yield StationStatusView(id="station-status")
        yield Footer()

    def on_mount(self) -> None:
        demo = self.station_app.demo
        hint = self.query_one("#demo-hint", Static)
        if demo is None:
            hint.display = False
        else:
            hint.update(demo.hint())
        self.action_refresh()

    def on_screen_resume(self) -> None:
        self.action_refresh()

    def action_refresh(self) -> None:
        self.load_status()

    @work(thread=True, exit_on_error=False, exclusive=True, group="status",
          name="reading the station status")
    def load_status(self) -> None:
        status = self.station_app.station.status()
        self.post_message(WorkFinished("status", status))

    def on_work_finished(self, message: WorkFinished) -> None:
        if message.kind == "status":
            message.stop()
            self.query_one(StationStatusView).show(message.result)

    def action_admin(self) -> None:
        self.station_app.open_admin()
