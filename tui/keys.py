"""Letter keys that work with Shift and Caps Lock: screens say "press V", and a `V` is a V.

Textual tells `v` and `V` apart (a terminal sends different characters), so every letter
binding is bound twice and shown once, in capitals, as the screens' sentences write it.
"""

from __future__ import annotations

from textual.binding import Binding


def letter(key: str, action: str, description: str, *, show: bool = True,
           priority: bool = False) -> Binding:
    """A binding for one letter in either case, shown as the capital."""
    if len(key) != 1 or not key.isalpha():
        raise ValueError(f"letter() takes one letter, not {key!r}")
    return Binding(f"{key.lower()},{key.upper()}", action, description, show=show,
                   key_display=key.upper(), priority=priority)
