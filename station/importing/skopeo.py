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
from collections.abc import Iterator
from pathlib import Path

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


def run_skopeo(
    args: list[str], *, what: str, cancel: threading.Event | None = None, hint: str | None = None
) -> str:
    """Run `skopeo ARGS`; return stdout, or raise `ImportFailed` with skopeo's own reason."""
    result = run_child([skopeo_path(), *args], cancel=cancel, cancel_message="import stopped")
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
