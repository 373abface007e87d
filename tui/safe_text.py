"""The only text type the screens build: media strings are shown, never obeyed.

Textual passes an escape character inside a `Text` straight to the terminal (it strips only
bell, backspace and a few others), so a bundle name, an image label or a report's package
name holding `ESC [2J` could redraw the operator's screen, and a bidirectional control could
make a name read backwards. `SafeText` escapes every such character (`station.text`) when it
is built and when text is appended; it is never parsed as markup.
"""

from __future__ import annotations

from typing import Any

from rich.style import Style
from rich.text import Text

from station.text import terminal_safe


class SafeText(Text):
    """A `rich.text.Text` whose characters are all safe to draw (newlines and tabs kept)."""

    def __init__(self, text: str = "", style: str | Style = "", **options: Any) -> None:
        super().__init__(terminal_safe(text), style, **options)

    def append(self, text: str | Text, style: str | Style | None = None) -> SafeText:
        if isinstance(text, str):
            text = terminal_safe(text)
        elif not isinstance(text, SafeText):
            text = SafeText(text.plain, text.style)
        super().append(text, style)
        return self
