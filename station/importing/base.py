"""What every import target shares: the staged input, the plan, the receipt, the interface.

A target never reads the media. It reads only the staged bundle (`verify.staged`): the
station's own OCI layout of blobs written and named while they were hashed, and the verified
files. So the bytes imported are the bytes verified, and no loader ever parses a container
the media brought. A target first makes a `plan` (which fails early: target unreachable, not
enough space) and then `run`s it, reporting each step to `on_step` so the workflow can audit
it, and returns a `Receipt`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import psutil

from station.errors import StationError
from station.progress import Progress, ProgressCallback, format_size
from station.verify.staged import StagedBundle, StagedFile, StagedImage


class ImportFailed(StationError):
    """An import could not complete; what was finished stays, a retry carries on."""


@dataclass(frozen=True)
class ImportStep:
    """One thing a target will do, described for the operator and the audit log."""

    description: str
    image: StagedImage | None = None
    file: StagedFile | None = None
    bytes: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "description": self.description,
            "image": self.image.descriptor.digest if self.image else None,
            "item": self.image.item if self.image else self.file.path if self.file else None,
            "bytes": self.bytes,
        }


@dataclass(frozen=True)
class ImportPlan:
    """Everything a run will do, decided before the first byte moves."""

    target: str
    staged: StagedBundle
    steps: tuple[ImportStep, ...]

    @property
    def total_bytes(self) -> int:
        return sum(step.bytes for step in self.steps)

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "bundle_digest": self.staged.digest,
            "bytes": self.total_bytes,
            "steps": [step.to_json() for step in self.steps],
        }


@dataclass(frozen=True)
class ImageReceipt:
    """Where one image landed, with the digests read back from the target."""

    references: tuple[str, ...]
    manifest_digest: str
    config_digest: str
    where: str
    bytes_copied: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "references": list(self.references),
            "manifest_digest": self.manifest_digest,
            "config_digest": self.config_digest,
            "where": self.where,
            "bytes_copied": self.bytes_copied,
        }


@dataclass(frozen=True)
class DeliveredFile:
    """A plain file, SBOM or scan report put into the received folder."""

    path: str
    sha256: str
    where: str

    def to_json(self) -> dict[str, str]:
        return {"path": self.path, "sha256": self.sha256, "where": self.where}


@dataclass(frozen=True)
class Receipt:
    """What an import did, for the operator, the audit log and `--json`."""

    target: str
    bundle_digest: str
    images: tuple[ImageReceipt, ...]
    files: tuple[DeliveredFile, ...]
    started: str
    finished: str

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "bundle_digest": self.bundle_digest,
            "images": [image.to_json() for image in self.images],
            "files": [delivered.to_json() for delivered in self.files],
            "started": self.started,
            "finished": self.finished,
        }


@dataclass(frozen=True)
class StepEvent:
    """A step starting, finishing or failing; the workflow audits each one."""

    step: ImportStep
    status: str  # "started" | "done" | "skipped" | "failed"
    detail: str = ""


StepCallback = Callable[[StepEvent], None]


class ImportTarget(Protocol):
    """A place images go: the embedded store, a Docker engine, a registry."""

    @property
    def name(self) -> str: ...

    @property
    def keeps_staged_blobs(self) -> bool:
        """Whether the import names the staged blobs in place (hard links into a store):
        then verification makes them durable as it writes them. A target that streams them
        (engine, registry) spares verification that disk work."""
        ...

    def describe(self) -> str:
        """One line for the operator: which target, where."""
        ...

    def check(self) -> str | None:
        """None when the target is reachable, else a plain reason."""
        ...

    def plan(self, staged: StagedBundle) -> ImportPlan:
        """Decide the steps; raise `StationError` early (unreachable, no space)."""
        ...

    def run(
        self,
        plan: ImportPlan,
        *,
        on_progress: ProgressCallback | None = None,
        on_step: StepCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> Receipt:
        """Carry out the plan; finished images stay when a later one fails."""
        ...


def report(callback: StepCallback | None, step: ImportStep, status: str, detail: str = "") -> None:
    """Send one step event to the workflow, when it listens."""
    if callback is not None:
        callback(StepEvent(step, status, detail))


def utc_now() -> str:
    """UTC time as ISO 8601 with seconds, as receipts and the audit log write it."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def existing_ancestor(path: Path) -> Path:
    """`path`, or its nearest parent that exists (a target folder may not exist yet)."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def require_free_space(folder: Path, needed: int, what: str) -> None:
    """Fail before copying when the filesystem holding `folder` lacks `needed` bytes."""
    probe = existing_ancestor(folder)
    try:
        free = psutil.disk_usage(str(probe)).free
    except OSError as exc:
        raise ImportFailed(f"cannot read the free space of {probe}: {exc}") from exc
    if free < needed:
        raise ImportFailed(
            f"not enough space for {what} in {folder}: {format_size(needed)} needed, "
            f"{format_size(free)} free",
            hint="free some space there (or choose another target) and import again",
        )


def image_title(image: StagedImage) -> str:
    """How an image is named in step descriptions: its first reference, else its digest."""
    if image.references:
        return image.references[0]
    return image.descriptor.digest[:19]


class ProgressMeter:
    """Counts bytes for one run and reports at most ~10 times a second (and at the end)."""

    def __init__(self, total: int, callback: ProgressCallback | None) -> None:
        self.total = total
        self.done = 0
        self.callback = callback
        self.path: str | None = None
        self._start = time.monotonic()
        self._last = 0.0

    def __call__(self, count: int) -> None:
        self.done += count
        now = time.monotonic()
        if self.callback is not None and now - self._last >= 0.1:
            self._last = now
            self._send(now)

    def at(self, path: str | None) -> None:
        """Name what is being worked on now."""
        self.path = path

    def finish(self) -> None:
        if self.callback is not None:
            self._send(time.monotonic())

    def _send(self, now: float) -> None:
        assert self.callback is not None  # noqa: S101
        self.callback(
            Progress(
                done=min(self.done, self.total),
                total=self.total,
                elapsed=now - self._start,
                path=self.path,
            )
        )
