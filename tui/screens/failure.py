"""A step failed: say what went wrong and what to do, never a traceback."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import Footer, Static

from station.errors import StationError
from tui.screens.base import StepScreen
from tui.widgets import StepHeader, VerdictBadge


def explain(error: BaseException) -> tuple[str, str]:
    """The operator's words for an error: (what happened, what to do)."""
    if isinstance(error, StationError):
        return error.message, error.hint or "Remove the media and call the administrator."
    return (
        f"Internal error: {type(error).__name__}: {error}",
        "Nothing was imported. Remove the media and call the administrator.",
    )


class FailureScreen(StepScreen):
    """The failure, the next step, and (with media present) the request to remove it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "dismiss_failure", "Back to start")
    ]

    def __init__(self, error: BaseException, *, during: str = "", media_present: bool) -> None:
        super().__init__(classes="failure-screen")
        self.error = error
        self.during = during
        self.media_present = media_present

    def compose(self) -> ComposeResult:
        what, todo = explain(self.error)
        title = f"Stopped: {self.during} failed" if self.during else "Stopped"
        yield StepHeader(0, title)
        with Vertical(classes="panel"):
            yield VerdictBadge("aborted")
            yield Static(what, id="failure-message")
            yield Static(f"What to do: {todo}", id="failure-hint")
            if self.media_present:
                yield Static(
                    "Remove the media. Nothing from it was imported.", classes="next-action"
                )
            else:
                yield Static("Press Enter to go back to the start.", classes="next-action")
        yield Footer()

    def action_dismiss_failure(self) -> None:
        if not self.media_present:
            self.station_app.back_to_waiting()
