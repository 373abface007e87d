"""A one-line progress bar with rate and time left, drawn on stderr when it is a terminal."""

from __future__ import annotations

import shutil
import sys
from typing import TextIO

from station.progress import Progress, ProgressCallback, format_duration, format_size


class TerminalProgress:
    """Redraws one line in place; prints nothing unless the stream is a terminal."""

    def __init__(self, label: str, stream: TextIO | None = None) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self._drawn = False

    def callback(self) -> ProgressCallback | None:
        return self.update if self.enabled else None

    def update(self, progress: Progress) -> None:
        width = shutil.get_terminal_size((80, 24)).columns
        info = (
            f" {progress.fraction * 100:5.1f}%  {format_size(progress.done)}/"
            f"{format_size(progress.total)}  {format_size(progress.rate)}/s  "
            f"ETA {format_duration(progress.eta)}"
        )
        bar_width = max(10, width - len(self.label) - len(info) - 4)
        filled = int(bar_width * min(progress.fraction, 1.0))
        bar = "#" * filled + "-" * (bar_width - filled)
        self.stream.write(f"\r{self.label} [{bar}]{info}"[: width - 1])
        self.stream.flush()
        self._drawn = True

    def finish(self) -> None:
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False
