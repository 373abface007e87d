"""Panes that scroll with the keyboard and say when there is more to see.

At 80x24 a receipt, a verdict, a tree or an image's details can be longer than its pane.
Each such pane takes the arrow keys, PgUp/PgDn, Home and End when focused, shows a scroll
bar, and its bottom border reads "▼ more below: ↓ PgDn" (or "▲ more above", or both) while
part of it is out of sight, so nobody has to guess that Tab and the arrows lead somewhere.
"""

from __future__ import annotations

from collections.abc import Callable

from textual.containers import VerticalScroll
from textual.events import Resize
from textual.widget import Widget


def scroll_cue(scroll_y: float, max_scroll_y: float) -> str:
    """The words for the bottom border: what is hidden, and the keys that show it."""
    above, below = scroll_y > 0, scroll_y < max_scroll_y
    if above and below:
        return "▲▼ more above and below: ↑ ↓ PgUp PgDn"
    if below:
        return "▼ more below: ↓ PgDn"
    if above:
        return "▲ more above: ↑ PgUp"
    return ""


def show_scroll_cue(widget: Widget) -> Callable[..., None]:
    """Keep `widget`'s bottom border saying what is out of sight; call from `on_mount`.

    Returns the update, for the widget's `on_resize` (a new height changes what is hidden).
    """

    def update(*_: object) -> None:
        cue = scroll_cue(widget.scroll_y, widget.max_scroll_y)
        widget.border_subtitle = cue
        widget.set_class(bool(cue), "-more")

    widget.watch(widget, "scroll_y", update, init=False)
    widget.watch(widget, "virtual_size", update, init=False)
    widget.call_after_refresh(update)
    return update


class ScrollPane(VerticalScroll):
    """A bordered, focusable, vertically scrolling pane with a "more" cue on its border."""

    DEFAULT_CLASSES = "scroll-pane"

    def on_mount(self) -> None:
        self._update_cue = show_scroll_cue(self)

    def on_resize(self, event: Resize) -> None:
        self.call_after_refresh(self._update_cue)

    @property
    def cue(self) -> str:
        """What the border says now (tests read it)."""
        return scroll_cue(self.scroll_y, self.max_scroll_y)
