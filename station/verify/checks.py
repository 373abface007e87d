"""Checks of what a bundle's images and files contain, run on the verified, staged copy.

Signatures and checksums say who sent a bundle; content checks say what it holds: the
station's own vulnerability scan of every image (`station.scan.check`). Each check returns
problems (part of the verdict, exactly like a policy finding), warnings and a summary that
goes into `station verify --json`, the audit record and the receipt. A check that needs the
images' layers on disk makes verification stage them, even for `station verify`.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from station.bundle.model import Finding
from station.progress import ProgressCallback

if TYPE_CHECKING:
    from station.verify.staged import StagedBundle


@dataclass(frozen=True)
class CheckResult:
    """What one content check found."""

    name: str
    problems: tuple[Finding, ...] = ()
    warnings: tuple[Finding, ...] = ()
    summary: Mapping[str, Any] = field(default_factory=dict)


class StagedCheck(Protocol):
    """A content check over the staged bundle (its `oci/` layout and `files/`)."""

    name: str

    @property
    def active(self) -> bool:
        """Whether the check has anything to look with (a database): if not, verification
        does not stage images just for it, and its `run` only explains why."""
        ...

    def applies(self, staged: StagedBundle) -> bool:
        """Whether there is anything to check (and so whether layers must be staged)."""
        ...

    def run(
        self,
        staged: StagedBundle,
        *,
        on_progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> CheckResult: ...
