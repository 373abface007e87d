"""A progress bar with the words a bar lacks: bytes done, speed and time left."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label, ProgressBar

from station.progress import Progress
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

    def show(self, progress: Progress, label: str | None = None) -> None:
        """Draw one progress report; call on the UI thread only."""
        bar = self.query_one(ProgressBar)
        bar.update(total=max(progress.total, 1), progress=progress.done)
        self.query_one(".progress-stats", Label).update(progress_line(progress))
        if label is not None:
            self.query_one(".progress-label", Label).update(label)

    def finish(self, text: str) -> None:
        """Fill the bar and replace the stats with a closing word (e.g. what failed)."""
        bar = self.query_one(ProgressBar)
        bar.update(progress=bar.total or 1)
        self.query_one(".progress-stats", Label).update(text)
