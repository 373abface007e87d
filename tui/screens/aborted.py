"""A transfer that stopped before the end: say why, that nothing was imported, what next."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import Footer, Static

from tui.safe_text import SafeText
from tui.screens.base import StepScreen
from tui.widgets import StepHeader, VerdictBadge


class AbortedScreen(StepScreen):
    """`reason` in the operator's words. One instruction only: with the media still in,
    remove it (its removal brings the start back); without, Enter goes back to the start."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("enter", "back", "Back to start")]

    def __init__(self, reason: str, *, media_present: bool = False) -> None:
        super().__init__(classes="aborted-screen")
        self.reason = reason
        self.media_present = media_present

    def compose(self) -> ComposeResult:
        yield StepHeader(0, "Transfer aborted")
        with Vertical(classes="panel"):
            yield VerdictBadge("aborted")
            yield Static(SafeText(f"The transfer was stopped: {self.reason}."), id="abort-reason")
            yield Static("Nothing from this media was imported.")
        text = ("Remove the media." if self.media_present
                else "Press Enter to go back to the start.")
        yield Static(text, classes="next-action")
        yield Footer()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """With the media in, Enter is not offered: removing it is the way on."""
        return not (action == "back" and self.media_present)

    def action_back(self) -> None:
        if not self.media_present:
            self.station_app.back_to_waiting()
