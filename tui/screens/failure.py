"""A step failed: say what went wrong and what to do, never a traceback."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import Footer, Static

from station.errors import StationError
from tui.safe_text import SafeText
from tui.screens.base import StepScreen
from tui.widgets import StepHeader, VerdictBadge


def explain(error: BaseException, media_root: Path | None = None) -> tuple[str, str]:
    """The operator's words for an error: (what happened, what to do).

    Paths on the media are shown relative to it ("the media/…"): the mount point means
    nothing to an operator.
    """
    if isinstance(error, StationError):
        message = error.message
        if media_root is not None:
            message = message.replace(f"{media_root}/", "the media/").replace(
                str(media_root), "the media")
        return message, error.hint or "Remove the media and call the administrator."
    return (
        f"Internal error: {type(error).__name__}: {error}",
        "Nothing was imported. Remove the media and call the administrator.",
    )


class FailureScreen(StepScreen):
    """The failure, the next step, and (with media present) the request to remove it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "dismiss_failure", "Back to start")
    ]

    def __init__(
        self, error: BaseException, *, during: str = "", media_root: Path | None = None
    ) -> None:
        super().__init__(classes="failure-screen")
        self.error = error
        self.during = during
        self.media_root = media_root
        self.media_present = media_root is not None

    def compose(self) -> ComposeResult:
        what, todo = explain(self.error, self.media_root)
        title = f"Stopped: {self.during} failed" if self.during else "Stopped"
        yield StepHeader(0, title)
        with Vertical(classes="panel"):
            yield VerdictBadge("aborted")
            yield Static(SafeText(what), id="failure-message")  # may quote the media: not markup
            yield Static(SafeText(f"What to do: {todo}"), id="failure-hint")
            if self.media_present:
                yield Static(
                    "Remove the media. Nothing from it was imported.", classes="next-action"
                )
            else:
                yield Static("Press Enter to go back to the start.", classes="next-action")
        yield Footer()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """With media in, the only way on is to remove it; Enter is not offered."""
        return not (action == "dismiss_failure" and self.media_present)

    def action_dismiss_failure(self) -> None:
        if not self.media_present:
            self.station_app.back_to_waiting()
