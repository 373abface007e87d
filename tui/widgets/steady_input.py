"""The kiosk's text field: an `Input` whose cursor stays lit instead of blinking.

A steady cursor is easier to find on a console from a step away, and a screen that nobody
types into does not change by itself (so what the operators read, and the tests compare,
is the same from one moment to the next).
"""

from __future__ import annotations

from textual.reactive import reactive
from textual.widgets import Input


class SteadyInput(Input):
    """`Input` with `cursor_blink` off by default."""

    cursor_blink = reactive(False, init=False)
