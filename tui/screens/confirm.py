"""A yes/no question before anything that cannot be taken back (cancel a transfer, quit).

`Esc` throws a transfer away and `Q` stops the station: one key should not do either by
accident. The dialog names what happens, answers `Y` (yes) and `N` or `Esc` (no), in
either case, and starts on "No" so that Enter alone changes nothing.
"""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from tui.keys import letter
from tui.safe_text import SafeText


class ConfirmDialog(ModalScreen[bool]):
    """Dismisses with True only for an explicit yes."""

    BINDINGS: ClassVar[list[BindingType]] = [
        letter("y", "answer(True)", "Yes"),
        letter("n", "answer(False)", "No"),
        Binding("escape", "answer(False)", "No", show=False),
    ]

    def __init__(self, question: str, consequence: str, *, yes: str, no: str) -> None:
        super().__init__(classes="confirm-dialog")
        self.question = question
        self.consequence = consequence
        self.yes = yes
        self.no = no

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box", classes="panel"):
            yield Static(SafeText(self.question), classes="section-title")
            yield Static(SafeText(self.consequence), id="confirm-consequence")
            with Horizontal(id="confirm-buttons"):
                yield Button(f"N  {self.no}", id="no", compact=True)
                yield Button(f"Y  {self.yes}", id="yes", compact=True)

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    @on(Button.Pressed)
    def pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
