"""The import targets as a keyboard list: reachable ones can be chosen, the others say why not.

The widget only draws and moves a cursor; the screen that owns it checks the targets in
thread workers (a check may block on a socket) and reports each answer with `show_check`.
A target is choosable only after its check answered "reachable": unknown is not ready.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Static

from station.importing.base import ImportTarget
from tui.safe_text import SafeText


class TargetRow(Static):
    """One target: `✔ ready`, `… checking` or `✘ NOT REACHABLE` with the reason."""

    def __init__(self, target: ImportTarget) -> None:
        super().__init__("", classes="target-row -checking")
        self.target = target
        self.checked = False
        self.problem: str | None = None

    @property
    def choosable(self) -> bool:
        return self.checked and self.problem is None

    def on_mount(self) -> None:
        self.redraw()

    def show_check(self, problem: str | None) -> None:
        self.checked = True
        self.problem = problem
        self.set_class(problem is None, "-ready")
        self.set_class(problem is not None, "-unreachable")
        self.remove_class("-checking")
        self.redraw()

    def start_check(self) -> None:
        self.checked = False
        self.problem = None
        self.set_classes("target-row -checking" + (" -highlighted" if self.highlighted else ""))
        self.redraw()

    @property
    def highlighted(self) -> bool:
        return self.has_class("-highlighted")

    def redraw(self) -> None:
        """Words and symbols carry the state; colour (station.tcss) only repeats it."""
        cursor = "▶ " if self.highlighted else "  "
        if not self.checked:
            state = "… checking     "
        elif self.problem is None:
            state = "✔ ready        "
        else:
            state = "✘ NOT REACHABLE"
        line = SafeText(f"{cursor}{state}  ")
        line.append(self.target.name, style="bold")
        line.append(f" — {self.target.describe()}")
        if self.checked and self.problem is not None:
            line.append(f"\n     why: {self.problem} (cannot be chosen)")
        self.update(line)


class TargetChoice(Vertical, can_focus=True):
    """Up and down move between choosable targets; Enter posts `Chosen`."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "move(-1)", "Previous target", show=False),
        Binding("down", "move(1)", "Next target", show=False),
        Binding("enter", "choose", "Import into the marked target"),
    ]

    @dataclass
    class Chosen(Message):
        """The operators pressed Enter on a reachable target."""

        target: ImportTarget

    def __init__(self, targets: list[ImportTarget], *, id: str | None = None) -> None:
        super().__init__(id=id, classes="target-choice")
        self.targets = list(targets)
        self.cursor: int | None = None
        self._operator_moved = False  # until then the cursor follows the checks' answers

    def compose(self) -> ComposeResult:
        for target in self.targets:
            yield TargetRow(target)

    @property
    def rows(self) -> list[TargetRow]:
        return list(self.query(TargetRow))

    @property
    def chosen(self) -> ImportTarget | None:
        """The target Enter would import into, if it can be chosen."""
        rows = self.rows
        if self.cursor is None or not rows[self.cursor].choosable:
            return None
        return rows[self.cursor].target

    def start_checks(self) -> None:
        """Every target back to "checking" (nothing choosable until its check answers)."""
        self._operator_moved = False
        for row in self.rows:
            row.start_check()

    def show_check(self, index: int, problem: str | None) -> None:
        """One target's check answered; the cursor lands on the first choosable target.

        Checks answer in any order: until the operator moves the cursor, it goes to the
        first choosable target in the list, not to whichever answered first.
        """
        self.rows[index].show_check(problem)
        if not self._operator_moved or self.chosen is None:
            choosable = [i for i, row in enumerate(self.rows) if row.choosable]
            self._put_cursor(choosable[0] if choosable else None)

    def action_move(self, step: int) -> None:
        rows = self.rows
        if self.cursor is None:
            return
        index = self.cursor + step
        while 0 <= index < len(rows):
            if rows[index].choosable:
                self._operator_moved = True
                self._put_cursor(index)
                return
            index += step

    def action_choose(self) -> None:
        target = self.chosen
        if target is not None:
            self.post_message(self.Chosen(target))

    def _put_cursor(self, index: int | None) -> None:
        for i, row in enumerate(self.rows):
            row.set_class(i == index, "-highlighted")
            row.redraw()
        self.cursor = index
