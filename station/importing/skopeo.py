"""Running skopeo: one place that turns its failures into operator messages.

skopeo is Debian's well-kept client for image transports (docker-archive, oci, docker://).
It runs as a child process (`station.children`: killed with the station, its process group
killed on a stop request); its stderr is kept for the message.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil

from station.children import run_child
from station.importing.base import ImportFailed

_QUERY = re.compile(r"(https?://[^\s\"?]+)\?[^\s\"]*")


def skopeo_path() -> str:
    """The skopeo program, or a clear error naming the package to install."""
    path = shutil.which("skopeo")
    if path is None:
        raise ImportFailed(
            "skopeo is not installed, and this target needs it",
            hint="install the Debian package skopeo on the station",
        )
    return path


class BytesRead:
    """Follows how many bytes a child has read so far (`/proc/PID/io` through psutil).

    skopeo prints no byte counts when it is not on a terminal, but what it reads of a
    `dir:` source is the blobs it sends: `on_bytes` gets each new count, up to `limit`, so a
    push shows progress with rate and time left like every other phase.
    """

    def __init__(self, on_bytes: Callable[[int], None], limit: int) -> None:
        self._on_bytes = on_bytes
        self._left = limit
        self._seen = 0

    def __call__(self, pid: int) -> None:
        try:
            read = psutil.Process(pid).io_counters().read_chars
        except (psutil.Error, AttributeError):
            return  # ended meanwhile, or no I/O accounting: the bar moves at the end
        count = min(read - self._seen, self._left)
        if count > 0:
            self._seen += count
            self._left -= count
            self._on_bytes(count)

    def finish(self) -> None:
        """The child has ended: whatever was not counted is done."""
        if self._left > 0:
            self._on_bytes(self._left)
            self._left = 0


def run_skopeo(
    args: list[str], *, what: str, cancel: threading.Event | None = None,
    hint: str | None = None, follow: BytesRead | None = None,
) -> str:
    """Run `skopeo ARGS`; return stdout, or raise `ImportFailed` with skopeo's own reason."""
    result = run_child([skopeo_path(), *args], cancel=cancel, cancel_message="import stopped",
                       while_running=follow)
    if result.returncode != 0:
        stderr = result.stderr.decode("utf-8", "replace")
        raise ImportFailed(f"{what} failed: {last_reason(stderr)}", hint=hint)
    return result.stdout.decode("utf-8", "replace")


def last_reason(stderr: str) -> str:
    """skopeo's final error line, without the logrus prefix."""
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    if not lines:
        return "skopeo gave no reason"
    line = lines[-1]
    marker = 'msg="'
    if marker in line:
        line = line.split(marker, 1)[1].rstrip('"')
    line = line.replace('\\"', '"')
    return _QUERY.sub(r"\1", line)  # upload URLs carry long opaque state


@contextlib.contextmanager
def work_folder(parent: Path) -> Iterator[Path]:
    """A private folder for one push, removed afterwards whatever happens."""
    try:
        parent.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix="import-", dir=parent))
    except OSError as exc:
        raise ImportFailed(f"cannot make a work folder in {parent}: {exc.strerror}") from exc
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
