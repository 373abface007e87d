"""The line at the top of every step: where the operator is and what happens here."""

from __future__ import annotations

from textual.widgets import Static

from tui.safe_text import SafeText

STEP_COUNT = 6
"""Insert, contents, verify, approve, import, done."""


class StepHeader(Static):
    """`Step N of M — <what>`; screens outside the procedure pass step 0 and show only <what>."""

    def __init__(self, step: int, what: str, *, total: int = STEP_COUNT) -> None:
        self.step = step
        self.what = what
        self.total = total
        text = f"Step {step} of {total} — {what}" if step else what
        super().__init__(SafeText(text), classes="step-header")
