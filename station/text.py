"""Text from the media made safe to show: no escape sequence reaches a terminal or a screen.

Bundle names, producers, tags, labels, file names and reasons all come from hostile media.
An escape sequence among them could clear the operator's terminal and draw a fake
"ACCEPTED"; a bidirectional control could make `invoice‮txt.exe` look like `invoice.exe`.
Every character that is a control (C0, C1, DEL), a format character (bidi controls, zero
width), a line or paragraph separator or a lone surrogate is shown as a `\\uXXXX` escape.
"""

from __future__ import annotations

import re
import unicodedata
from typing import TextIO

_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_ASCII_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_LAYOUT = frozenset("\n\t\r")


def _escape(ch: str) -> str:
    return f"\\u{ord(ch):04x}" if ord(ch) <= 0xFFFF else f"\\U{ord(ch):08x}"


def _unsafe(ch: str) -> bool:
    return unicodedata.category(ch) in _UNSAFE_CATEGORIES


def plural(count: int, noun: str, plural_form: str | None = None) -> str:
    """`1 record`, `2 records`: never "(1 records)"."""
    return f"{count} {noun if count == 1 else (plural_form or noun + 's')}"


def printable(text: str) -> str:
    """One line of text from the media, every unsafe character escaped (newlines too)."""
    if text.isprintable():
        return text
    return "".join(_escape(ch) if not ch.isprintable() or _unsafe(ch) else ch for ch in text)


def terminal_safe(text: str) -> str:
    """Output text with unsafe characters escaped; newlines, tabs and `\\r` kept for layout."""
    if text.isascii():
        return _ASCII_CONTROL.sub(lambda m: _escape(m.group()), text)
    return "".join(
        _escape(ch) if ch not in _LAYOUT and (_unsafe(ch) or not ch.isprintable()) else ch
        for ch in text
    )


class SafeStream:
    """A text stream that passes everything through `terminal_safe` (the CLI's stdout and
    stderr: whatever a command prints, no media string can drive the terminal)."""

    def __init__(self, inner: TextIO) -> None:
        self._inner = inner

    def write(self, text: str) -> int:
        self._inner.write(terminal_safe(text))
        return len(text)

    def flush(self) -> None:
        self._inner.flush()

    def isatty(self) -> bool:
        return self._inner.isatty()

    def fileno(self) -> int:
        return self._inner.fileno()

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)
