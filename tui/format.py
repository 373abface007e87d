"""Plain-text formatting the screens share: digests read aloud, counts, times, rates.

Pure functions so the screens stay declarative and the tests need no app.
"""

from __future__ import annotations

from datetime import UTC, datetime

from station.progress import Progress, format_duration, format_size
from station.text import plural

__all__ = ["plural"]  # the screens import it from here with the other formatting helpers


def parse_time(value: str | datetime) -> datetime | None:
    """An audit or receipt time (ISO 8601) as an aware datetime; None if it is not one."""
    if isinstance(value, datetime):
        when = value
    else:
        try:
            when = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except (ValueError, AttributeError):
            return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def local_and_utc(value: str | datetime, *, date: bool = True, seconds: bool = True) -> str:
    """Local time with UTC beside it: `2026-11-27 11:42:05 (10:42:05 UTC)`.

    Operators think in local time, audit logs and other sites in UTC; where the two are the
    same it says so once (`10:42:05 UTC`). Text that is not a time comes back unchanged.
    """
    when = parse_time(value)
    if when is None:
        return str(value)
    clock = "%H:%M:%S" if seconds else "%H:%M"
    local = when.astimezone()
    utc = when.astimezone(UTC)
    text = local.strftime(("%Y-%m-%d " if date else "") + clock)
    if local.utcoffset() == utc.utcoffset():
        return f"{text} UTC"
    return f"{text} ({utc.strftime(clock)} UTC)"


def countdown(seconds: float) -> str:
    """`14:31` minutes and seconds left (never negative)."""
    whole = max(0, int(seconds + 0.999))
    return f"{whole // 60}:{whole % 60:02d}"


def digest_groups(digest: str, size: int = 4) -> list[str]:
    """`sha256:1a2b3c…` as groups of four hex characters, the way operators read it aloud."""
    _, _, hexpart = digest.rpartition(":")
    return [hexpart[i : i + size] for i in range(0, len(hexpart), size)]


def digest_lines(digest: str, per_line: int = 8) -> list[str]:
    """Digest groups laid out `per_line` to a line, so 64 hex characters fit in 80 columns."""
    groups = digest_groups(digest)
    return [" ".join(groups[i : i + per_line]) for i in range(0, len(groups), per_line)]


def short_digest(digest: str, length: int = 12) -> str:
    """The first characters of a digest, for tables where the full one does not fit."""
    algorithm, _, hexpart = digest.rpartition(":")
    prefix = f"{algorithm}:" if algorithm else ""
    return f"{prefix}{hexpart[:length]}"


def progress_line(progress: Progress) -> str:
    """`512.0 MiB of 1.0 GiB · 850.0 MiB/s · 0:02 left`: what a bar alone does not say."""
    done = format_size(progress.done)
    total = format_size(progress.total)
    if progress.done >= progress.total and progress.total:
        took = format_duration(progress.elapsed)
        return f"{total} · {format_size(progress.rate)}/s · done in {took}"
    rate = f"{format_size(progress.rate)}/s" if progress.rate > 0 else "measuring speed"
    return f"{done} of {total} · {rate} · {format_duration(progress.eta)} left"
