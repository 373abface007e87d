"""Plain-text formatting the screens share: digests read aloud, rates and time left.

Pure functions so the screens stay declarative and the tests need no app.
"""

from __future__ import annotations

from station.progress import Progress, format_duration, format_size


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
