"""A verdict in colour AND words, so it reads on a monochrome console and to the colour-blind."""

from __future__ import annotations

from textual.widgets import Static

_WORDS = {
    "accepted": "✔ ACCEPTED",
    "rejected": "✘ REJECTED",
    "pending": "… CHECKING",
    "aborted": "■ ABORTED",
    "imported": "✔ IMPORTED",
    "valid": "✔ valid",
    "invalid": "✘ not valid",
}


class VerdictBadge(Static):
    """One word with a symbol and a colour class (`-accepted`, `-rejected`, ...)."""

    def __init__(self, verdict: str, *, id: str | None = None) -> None:
        super().__init__(_WORDS.get(verdict, verdict.upper()), id=id)
        self.verdict = verdict
        self.add_class("verdict-badge", f"-{verdict}")

    def set_verdict(self, verdict: str) -> None:
        """Change the verdict in place (pending → accepted/rejected)."""
        self.remove_class(f"-{self.verdict}")
        self.verdict = verdict
        self.add_class(f"-{verdict}")
        self.update(_WORDS.get(verdict, verdict.upper()))
