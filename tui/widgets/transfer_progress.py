"""A progress bar with the words a bar lacks: bytes done, speed and time left."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label, ProgressBar

from station.progress import Progress, format_size
from tui.format import progress_line


class TransferProgress(Vertical):
    """Label, bar and a stats line, fed with `station.progress.Progress` snapshots.

    The rate and time left come from the core's own clock (`Progress.elapsed`), never from
    Textual's, so a snapshot test with fixed progress values draws the same screen every time.
    """

    def __init__(self, label: str, *, total: int = 0, id: str | None = None) -> None:
        super().__init__(id=id, classes="transfer-progress")
        self._label = label
        self._total = total

    def compose(self) -> ComposeResult:
        yield Label(self._label, classes="progress-label")
        yield ProgressBar(total=max(self._total, 1), show_eta=False, show_percentage=True)
        yield Label("waiting to start", classes="progress-stats")

    def show(self, progress: Progress, label: str | None = None, *, rate: bool = True) -> None:
        """Draw one progress report; call on the UI thread only.

        `rate=False` for a part of a longer step (one file), where speed and time left of
        the part alone would mislead.
        """
        bar = self.query_one(ProgressBar)
        bar.update(total=max(progress.total, 1), progress=progress.done)
        stats = progress_line(progress) if rate else (
            f"{format_size(progress.done)} of {format_size(progress.total)}")
        self.query_one(".progress-stats", Label).update(stats)
        if label is not None:
            self.query_one(".progress-label", Label).update(label)

    def finish(self, text: str) -> None:
        """Fill the bar and replace the stats with a closing word (e.g. what failed)."""
        bar = self.query_one(ProgressBar)
        bar.update(progress=bar.total or 1)
        self.query_one(".progress-stats", Label).update(text)
