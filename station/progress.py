"""Progress reports and cancellation shared by every long-running step.

The core knows nothing about who listens: the CLI draws a bar on stderr, the kiosk posts a
message to its screen. Callbacks run on the worker thread that does the work.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from station.errors import Cancelled


@dataclass(frozen=True)
class Progress:
    """Where a long step stands: overall bytes and the file being worked on."""

    done: int
    total: int
    elapsed: float
    path: str | None = None
    path_done: int = 0
    path_total: int = 0

    @property
    def rate(self) -> float:
        """Bytes per second since the step started."""
        return self.done / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        """Seconds left at the current rate, or None before there is a rate."""
        rate = self.rate
        if rate <= 0:
            return None
        return max(self.total - self.done, 0) / rate

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0


ProgressCallback = Callable[[Progress], None]


def check_cancel(cancel: threading.Event | None, what: str = "stopped") -> None:
    """Raise `Cancelled` when the event is set; loops call this every chunk."""
    if cancel is not None and cancel.is_set():
        raise Cancelled(what)


def format_size(size: int | float) -> str:
    """Human size with binary units, as operators read it on screen."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def format_duration(seconds: float | None) -> str:
    """`1:02:03` or `2:03`; `--:--` when unknown."""
    if seconds is None:
        return "--:--"
    total = int(seconds + 0.5)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
