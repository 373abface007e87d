"""A pane that scrolls with the keyboard and says when there is more to see.

At 80x24 a receipt, a verdict or an image's details can be longer than the pane. The pane
takes the arrow keys, PgUp/PgDn, Home and End when focused, and its bottom border reads
"▼ more below: ↓ PgDn" (or "▲ more above", or both) whenever part of it is out of sight, so
nobody has to guess that Tab and the arrows lead somewhere.
"""

from __future__ import annotations

from textual.containers import VerticalScroll
from textual.events import Resize


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


class ScrollPane(VerticalScroll):
    """A bordered, focusable, vertically scrolling pane with a "more" cue on its border."""

    DEFAULT_CLASSES = "scroll-pane"

    def on_mount(self) -> None:
        self.watch(self, "scroll_y", self._update_cue, init=False)
        self.watch(self, "virtual_size", self._update_cue, init=False)
        self.call_after_refresh(self._update_cue)

    def on_resize(self, event: Resize) -> None:
        self.call_after_refresh(self._update_cue)

    def _update_cue(self, *_: object) -> None:
        cue = scroll_cue(self.scroll_y, self.max_scroll_y)
        self.border_subtitle = cue
        self.set_class(bool(cue), "-more")

    @property
    def cue(self) -> str:
        """What the border says now (tests read it)."""
        return scroll_cue(self.scroll_y, self.max_scroll_y)
