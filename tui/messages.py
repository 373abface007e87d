"""Messages that carry results from worker threads and media callbacks to the screens.

Workers and the media source's thread never touch widgets: they post one of these
(`post_message` is thread-safe) and a handler on the UI thread draws the result. One message
class per kind of result, each handled by its own `on_...` method.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.message import Message

from station.media.events import DeviceInfo, WatcherEvent
from station.progress import Progress

if TYPE_CHECKING:
    from station.approval import Approval, ApprovalError, ApprovalState, Operator
    from station.audit import AuditCheck
    from station.bundle.model import Bundle
    from station.bundle.summaries import ItemSummary
    from station.errors import StationError
    from station.importing.base import Receipt
    from station.station import PastImport, StationStatus
    from station.verify.verification import Verification
    from station.workflow import Transfer
    from tui.screens.audit import AuditRow


# -- media and transfers (the app) ----------------------------------------------------------


@dataclass
class MediaArrived(Message):
    """Media with a readable folder appeared (a USB stick mounted, a demo folder dropped)."""

    root: Path
    device: DeviceInfo


@dataclass
class MediaGone(Message):
    """The media was removed; any transfer reading it stops."""

    device: DeviceInfo


@dataclass
class MediaRefused(Message):
    """Something was plugged in that is not acceptable media (a keyboard posing as a stick)."""

    reason: str
    device: DeviceInfo


@dataclass
class MediaWatcherChanged(Message):
    """The media watcher failed (no media is seen until it restarts) or listens again."""

    event: WatcherEvent


@dataclass
class RefusalRecorded(Message):
    """A refused device is on record; now the operators may be told."""

    device: DeviceInfo
    reason: str


@dataclass
class TransferOpened(Message):
    """The inserted media's transfer exists (its insertion is on record)."""

    transfer: Transfer


@dataclass
class TransferAborted(Message):
    """A transfer was aborted and that is on record; `reason` in the operator's words."""

    reason: str


# -- station status, admin ------------------------------------------------------------------


@dataclass
class StatusRead(Message):
    """`Station.status()` answered (free space, keys, targets, audit log, last transfers)."""

    status: StationStatus


@dataclass
class SignedIn(Message):
    """The admin sign-in succeeded (on record)."""

    account: Operator


@dataclass
class SignInRefused(Message):
    """The admin sign-in was refused (on record, never with an unknown name)."""

    error: ApprovalError


@dataclass
class LockedAccountsRead(Message):
    """The accounts locked after too many wrong PINs."""

    accounts: list[Operator]


@dataclass
class AccountUnlocked(Message):
    """An admin unlocked an account (on record)."""

    account: Operator


@dataclass
class UnlockRefused(Message):
    """The unlock was refused (on record)."""

    error: StationError


@dataclass
class QuitRecorded(Message):
    """The admin's quit is on record: the kiosk may exit."""


@dataclass
class AuditRead(Message):
    """The audit log, read and checked once."""

    check: AuditCheck
    records: list[dict[str, Any]]


@dataclass
class AuditFiltered(Message):
    """The audit records that pass the viewer's filters, newest first, as table rows."""

    rows: list[AuditRow]
    matched: int


# -- the steps of a transfer ----------------------------------------------------------------


@dataclass
class BundleRead(Message):
    """The bundle's names were read off the media (contents screen)."""

    bundle: Bundle


@dataclass
class SummariesRead(Message):
    """What SBOMs or scan reports on the media say, by path (not yet verified)."""

    summaries: Mapping[str, ItemSummary]


@dataclass
class WorkProgress(Message):
    """A progress report from a worker; the core throttles these to about ten a second."""

    progress: Progress

    def can_replace(self, message: Message) -> bool:
        """A newer report makes an older one still queued pointless."""
        return isinstance(message, WorkProgress)


@dataclass
class VerificationDone(Message):
    """The verdict, and for an accepted bundle its earlier imports (usually none)."""

    verification: Verification
    previous_imports: tuple[PastImport, ...] = ()


@dataclass
class ReimportConfirmed(Message):
    """The operators' confirmation to import a bundle again is on record."""


@dataclass
class ApprovalStateRead(Message):
    """The approvals as they stand (expiries already on record)."""

    state: ApprovalState


@dataclass
class ApprovalGiven(Message):
    """One approval is on record; `state` is the book right after it."""

    approval: Approval
    state: ApprovalState


@dataclass
class ApprovalRefused(Message):
    """An approval was refused (on record); `state` is the book right after it."""

    error: StationError
    state: ApprovalState


@dataclass
class ApprovalsRestarted(Message):
    """The approvals started again (on record)."""

    dropped: int
    state: ApprovalState


@dataclass
class TargetChecked(Message):
    """One import target's check answered: `problem` is None when it is reachable."""

    index: int
    problem: str | None


@dataclass
class ImportStep(Message):
    """One step of an import changed: `status` is running, done or failed."""

    name: str
    status: str
    detail: str = ""


@dataclass
class ImportFailed(Message):
    """The import stopped with a reason the core explains (retry may finish it)."""

    error: StationError


@dataclass
class ImportDone(Message):
    """Everything landed: the receipt."""

    receipt: Receipt


@dataclass
class OverrideAnswered(Message):
    """The core's answer to the admin's rollback override: `refusal` is None if accepted."""

    refusal: str | None
