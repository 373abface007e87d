"""One transfer as a plain state machine: the only way from inserted media to an import.

    inserted → inspected → verifying → verified → approved → importing → done
                     ↘ rejected (bundle unreadable, verification or policy said no)
    any state before done → aborted (media removed, operator cancelled)

Every step checks that it comes in order and refuses otherwise (the UI is not trusted to
keep order). Every state change and every refusal is written to the audit log *before*
listeners hear of it, so what the screen shows is always already on record.
"""

from __future__ import annotations

import shutil
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from station.bundle import Bundle, open_bundle
from station.config import StationConfig
from station.errors import Cancelled, MediaError, StationError
from station.importing.base import ImportPlan, ImportTarget, Receipt, StepEvent
from station.progress import ProgressCallback
from station.verify.checks import StagedCheck
from station.verify.staged import StagedBundle
from station.verify.trust import TrustStore
from station.verify.verification import PolicyRules, Verification, verify_bundle

if TYPE_CHECKING:
    from station.approval import Approval, ApprovalBook, ApprovalState
    from station.audit import AuditLog
    from station.lock import TransferLock
    from station.malware.settings import MalwareSettings
    from station.media.events import DeviceInfo


class TransferState(StrEnum):
    INSERTED = "inserted"
    INSPECTED = "inspected"
    VERIFYING = "verifying"
    VERIFIED = "verified"
    APPROVED = "approved"
    IMPORTING = "importing"
    DONE = "done"
    REJECTED = "rejected"
    ABORTED = "aborted"


FINAL_STATES = frozenset({TransferState.DONE, TransferState.REJECTED, TransferState.ABORTED})


class StepRefused(StationError):
    """A step was asked for out of order, or without what it needs (approvals, a verdict)."""


@dataclass(frozen=True)
class TransferEvent:
    """A state change, as listeners (the kiosk, the CLI) receive it."""

    transfer_id: str
    state: TransferState
    message: str


Listener = Callable[[TransferEvent], None]
Installer = Callable[[Receipt, Bundle], tuple[list[dict[str, Any]], list[str]]]


class Transfer:
    """The transfer of one bundle from one media; create it through `Station.new_transfer`."""

    def __init__(
        self,
        *,
        media_root: Path,
        config: StationConfig,
        trust: TrustStore,
        audit: AuditLog,
        approvals: ApprovalBook,
        policy: PolicyRules,
        on_imported: Callable[[Bundle], None] | None = None,
        device: DeviceInfo | None = None,
        on_finished: Callable[[Transfer], None] | None = None,
        checks: Sequence[StagedCheck] = (),
        home_lock: TransferLock | None = None,
        malware: MalwareSettings | None = None,
        installer: Installer | None = None,
    ) -> None:
        self.id = uuid.uuid4().hex[:12]
        self.media_root = media_root
        self.device = device
        self.config = config
        self.trust = trust
        self.audit = audit
        self.approval_book = approvals
        self.policy = policy
        self.on_imported = on_imported
        self.checks = tuple(checks)
        self.malware = malware
        self.installer = installer
        self.installed: list[dict[str, Any]] = []  # databases the import installed
        # --- receipt hook (issue 15): called once, after the move into done, rejected or
        # aborted is on record and before listeners hear of it; it may add to `message`.
        self.on_finished = on_finished
        self._finish_reported = False
        self.state = TransferState.INSERTED
        self.bundle: Bundle | None = None
        self.verification: Verification | None = None
        self.plan: ImportPlan | None = None
        self.receipt: Receipt | None = None
        self.approved_by: tuple[Approval, ...] = ()
        """The two approvals the import went ahead on (kept for the receipt: by the time
        it is read, the book may have expired them)."""
        self.reimport_confirmed = False
        self.abort_reason: str | None = None
        self.warnings: list[str] = []  # what the operator must know although it ended well
        self.message = "media inserted"
        self._listeners: list[Listener] = []
        self._lock = threading.RLock()
        self._stop = threading.Event()  # set by abort(): long steps stop at the next chunk
        # The station home's transfer lock (station/lock.py): held from here until a final
        # state with no step running; staging is ours while it is held.
        self._home_lock = home_lock
        if home_lock is not None:
            home_lock.describe_as(transfer=self.id)
        approvals.clear("new media inserted")

    # -- listening ---------------------------------------------------------------------------

    def add_listener(self, callback: Listener) -> None:
        """Called on whatever thread made the change; the kiosk only posts a message."""
        self._listeners.append(callback)

    def _record(self, event: str, **fields: Any) -> None:
        digest = self.bundle.digest if self.bundle is not None else None
        self.audit.append(event, transfer=self.id, digest=digest, **fields)

    def _move(self, state: TransferState, message: str, **fields: Any) -> None:
        with self._lock:
            previous = self.state
            self._record(
                "state-change",
                state=state.value,
                previous=previous.value,
                message=message,
                **fields,
            )
            self.state = state
            self.message = message
            report_finish = state in FINAL_STATES and not self._finish_reported
            self._finish_reported = self._finish_reported or report_finish
            if state in FINAL_STATES and self._home_lock is not None:
                self._home_lock.finish()  # released now, or when the running step returns
        if report_finish and self.on_finished is not None:  # receipt hook (issue 15)
            self.on_finished(self)
        event = TransferEvent(self.id, state, self.message)
        for listener in list(self._listeners):
            listener(event)

    def _require(self, step: str, *allowed: TransferState) -> None:
        if self.state not in allowed:
            expected = " or ".join(s.value for s in allowed)
            reason = f"cannot {step} now: the transfer is {self.state.value}, not {expected}"
            self._record("step-refused", step=step, state=self.state.value, reason=reason)
            raise StepRefused(reason)

    @property
    def finished(self) -> bool:
        return self.state in FINAL_STATES

    def _step(self) -> AbstractContextManager[None]:
        """While verify or import runs, the home stays this transfer's even if it aborts."""
        return self._home_lock.step() if self._home_lock is not None else nullcontext()

    # -- steps -------------------------------------------------------------------------------

    def inspect(self) -> Bundle:
        """Open the bundle on the media (names only). Unreadable media rejects the transfer."""
        with self._lock:
            self._require("inspect", TransferState.INSERTED)
            try:
                bundle = open_bundle(self.media_root, self.config.limits)
            except StationError as exc:
                self._move(TransferState.REJECTED, f"cannot read the bundle: {exc}")
                raise
            self.bundle = bundle
            if self._home_lock is not None:
                self._home_lock.describe_as(digest=bundle.digest)
            self._record(
                "bundle-opened",
                format=bundle.format.value,
                items=len(bundle.items),
                size=bundle.declared_size,
                problems=[p.message for p in bundle.problems],
                warnings=len(bundle.warnings),
                name=bundle.info.name if bundle.info else None,
                channel=bundle.info.channel if bundle.info else None,
                sequence=bundle.info.sequence if bundle.info else None,
            )
            self._move(TransferState.INSPECTED, f"bundle {bundle.digest} opened")
            return bundle

    def verify(
        self,
        on_progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
        *,
        target: ImportTarget | None = None,
    ) -> Verification:
        """Verify and stage; the verdict moves the transfer to verified or rejected.

        Without `cancel`, `abort()` (for instance on media removal) stops the hashing.
        `target` is where the import will go, when that is known already: one that streams
        the images (engine, registry) spares staging the fsync of their blobs.
        """
        with self._lock:
            self._require("verify", TransferState.INSPECTED)
            assert self.bundle is not None  # noqa: S101 - inspected implies a bundle
            bundle = self.bundle
            self._move(TransferState.VERIFYING, "verifying signatures and checksums")
        durable = target is None or target.keeps_staged_blobs
        with self._step():
            return self._verify(bundle, on_progress, cancel, durable)

    def _verify(
        self,
        bundle: Bundle,
        on_progress: ProgressCallback | None,
        cancel: threading.Event | None,
        durable_images: bool,
    ) -> Verification:
        try:
            verification = verify_bundle(
                bundle,
                self.trust,
                self.policy,
                limits=self.config.limits,
                staging_root=self.config.staging_dir,
                checks=self.checks,
                malware=self.malware,
                durable_images=durable_images,
                on_progress=on_progress,
                cancel=cancel or self._stop,
            )
        except (Cancelled, MediaError) as exc:
            self.abort(str(exc))
            raise
        except StationError as exc:
            self.abort(f"verification failed: {exc}")
            raise
        with self._lock:
            if self.state is not TransferState.VERIFYING:  # aborted meanwhile (media pulled)
                self._discard_staging(verification)
                raise StepRefused(f"the transfer was {self.state.value} during verification")
            self.verification = verification
            self._record(
                "verification",
                verdict=verification.verdict,
                verification=verification.id,
                signers=list(verification.signers),
                problems=[p.message for p in verification.problems],
                warnings=[w.message for w in verification.warnings],
                checks=dict(verification.checks),
            )
            if verification.accepted:
                self._move(TransferState.VERIFIED, "verified: accepted")
            else:
                reasons = "; ".join(p.message for p in verification.problems[:3])
                self._move(TransferState.REJECTED, f"rejected: {reasons}")
            return verification

    def approvals_needed(self) -> int:
        """How many more approvals the import waits for."""
        if self.verification is None:
            return 2
        count = len(
            [a for a in self.approval_book.approvals if a.verification_id == self.verification.id]
        )
        return max(0, 2 - count)

    @property
    def approvals(self) -> tuple[Approval, ...]:
        """The approvals that count now; once importing, the ones the import went ahead on."""
        if self.state in (TransferState.IMPORTING, TransferState.DONE) and self.approved_by:
            return self.approved_by
        return self.approval_book.approvals

    def approve(
        self,
        username: str,
        secret: str,
        typed_suffix: str | None = None,
        *,
        noninteractive: bool = False,
    ) -> Approval:
        """One operator's approval of this verified bundle; two make the transfer approved."""
        with self._lock:
            self._require("approve", TransferState.VERIFIED)
            verification = self.verification
            assert verification is not None  # noqa: S101 - verified implies a verification
            approval = self.approval_book.approve(
                username,
                secret,
                verification.bundle_digest,
                verification.id,
                typed_suffix,
                noninteractive=noninteractive,
            )
            if self.approval_book.is_satisfied(verification.bundle_digest, verification.id):
                names = ", ".join(a.operator for a in self.approval_book.approvals)
                self._move(TransferState.APPROVED, f"approved by {names}")
            return approval

    def import_into(
        self,
        target: ImportTarget,
        on_progress: ProgressCallback | None = None,
        on_step: Callable[[StepEvent], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> Receipt:
        """Import the staged, verified bytes. Refused unless verified, accepted and approved."""
        with self._lock:
            self._require("import", TransferState.APPROVED)
            verification = self.verification
            if verification is None or not verification.accepted or verification.staged is None:
                self._record("step-refused", step="import", reason="no accepted verification")
                raise StepRefused("cannot import: there is no accepted, staged verification")
            if not self.approval_book.is_satisfied(verification.bundle_digest, verification.id):
                reason = "the two approvals are no longer valid (expired or an account changed)"
                self._record("step-refused", step="import", reason=reason)
                self._move(TransferState.VERIFIED, f"{reason}; approve again")
                raise StepRefused(f"cannot import: {reason}", hint="both operators approve again")
            staged = verification.staged
            self.approved_by = self.approval_book.approvals
            self._move(
                TransferState.IMPORTING, f"importing into {target.describe()}", target=target.name
            )
        with self._step():
            return self._import(target, staged, verification, on_progress, on_step, cancel)

    def _import(
        self,
        target: ImportTarget,
        staged: StagedBundle,
        verification: Verification,
        on_progress: ProgressCallback | None,
        on_step: Callable[[StepEvent], None] | None,
        cancel: threading.Event | None,
    ) -> Receipt:

        def audited_step(event: StepEvent) -> None:
            self._record(
                "import-step",
                target=target.name,
                step=event.step.description,
                status=event.status,
                detail=event.detail,
            )
            if on_step is not None:
                on_step(event)

        try:
            plan = self.plan = target.plan(staged)
            receipt = target.run(
                plan, on_progress=on_progress, on_step=audited_step, cancel=cancel or self._stop
            )
        except BaseException as exc:
            message = str(exc) if isinstance(exc, StationError) else f"{type(exc).__name__}: {exc}"
            self._record("import-failed", target=target.name, reason=message)
            with self._lock:
                if self.state is TransferState.IMPORTING:
                    self._move(TransferState.APPROVED, f"import failed: {message}")
            raise
        with self._lock:
            self.receipt = receipt
            self._record("import-done", target=target.name, receipt=receipt.to_json())
            warning = self._install_databases(receipt) + self._after_import(receipt)
            self._discard_staging(verification)
            self._move(TransferState.DONE, f"imported into {target.describe()}{warning}")
        return receipt

    def _install_databases(self, receipt: Receipt) -> str:
        """Vulnerability and malware databases the bundle carried (audited by the installer);
        a refused database is a warning: what landed stays."""
        if self.installer is None or self.bundle is None:
            return ""
        self.installed, warnings = self.installer(receipt, self.bundle)
        self.warnings.extend(warnings)
        return "".join(f"; {warning}" for warning in warnings)

    def _after_import(self, receipt: Receipt) -> str:
        """Run `on_imported` (the rollback mark). The images have landed whatever it says: a
        failure is audited with what landed and said in the final message, never left as a
        transfer stuck in "importing"."""
        if self.on_imported is None or self.bundle is None:
            return ""
        try:
            self.on_imported(self.bundle)
        except StationError as exc:
            landed = [", ".join(i.references) or i.config_digest for i in receipt.images]
            landed += [f.path for f in receipt.files]
            self._record("sequence-not-saved", reason=exc.message, landed=landed)
            warning = f"{exc.message} ({exc.hint})" if exc.hint else exc.message
            self.warnings.append(warning)
            return f"; {len(landed)} item(s) landed, but {warning}"
        return ""

    def override_rollback(self, admin: str, secret: str, reason: str) -> None:
        """An admin accepts an older sequence number on purpose; verification then runs again.

        Allowed only when rollback protection was the sole reason for the rejection. The
        override is audited (by the policy) before anything else happens.
        """
        from station.verify.policy import OVERRIDABLE, Policy

        with self._lock:
            self._require("override", TransferState.REJECTED)
            verification = self.verification
            policy = self.policy
            if (
                verification is None
                or not isinstance(policy, Policy)
                or not verification.problems
                or any(p.code not in OVERRIDABLE for p in verification.problems)
            ):
                self._record("step-refused", step="override", reason="not a rollback rejection")
                raise StepRefused(
                    "only a rejection for an old sequence number can be overridden",
                    hint="the other reasons must be fixed at the source",
                )
            try:
                account = self.approval_book.operators.authenticate(admin, secret)
                policy.override(
                    verification.problems,
                    admin=account,
                    reason=reason,
                    digest=verification.bundle_digest,
                    audit=self.audit,
                )
            except StationError as refused:  # wrong PIN, not an admin, no reason: on record
                known = self.approval_book.operators.known_name(admin)  # never a typed PIN
                self._record("step-refused", step="override", actor=known, reason=refused.message)
                raise
            if self._home_lock is not None:
                try:  # rejected released the home: take it again before staging anything
                    self._home_lock.reopen()
                except StationError as busy:
                    self._record("step-refused", step="override", reason=busy.message)
                    raise
            # Rollback findings come only from rollback protection: this transfer goes on
            # without it; the station's policy (and the mark it records) is unchanged.
            self.policy = replace(policy, rollback_protection=False)
            self.verification = None
            self._move(
                TransferState.INSPECTED, f"rollback accepted by {account.name}; verify again"
            )

    # -- approvals as operators see them: expiry, restart, re-import -----------------------

    def approval_state(self) -> ApprovalState:
        """The approvals of this verification with the time each has left; expires (and
        audits) what is past its time first. The kiosk calls it every second."""
        verification = self._verification_for("see the approvals")
        return self.approval_book.status(verification.bundle_digest, verification.id)

    def restart_approvals(self, reason: str) -> int:
        """Drop the approvals given so far and start again (after a refused role), audited.
        Returns how many were dropped."""
        with self._lock:
            self._require("restart the approvals", TransferState.VERIFIED)
            verification = self._verification_for("restart the approvals")
            return self.approval_book.restart(
                verification.bundle_digest, verification.id, reason
            )

    def confirm_reimport(self, previous: Sequence[Mapping[str, Any]]) -> None:
        """The operators import a bundle that was imported before, on purpose: on record.

        `previous` describes the earlier imports (`Station.previous_imports`, as JSON).
        """
        with self._lock:
            self._require("confirm the re-import", TransferState.VERIFIED)
            self._record("reimport-confirmed", previous=[dict(p) for p in previous])
            self.reimport_confirmed = True

    def _verification_for(self, step: str) -> Verification:
        verification = self.verification
        if verification is None or not verification.accepted:
            raise StepRefused(f"cannot {step}: there is no accepted verification")
        return verification

    def abort(self, reason: str) -> None:
        """Stop this transfer for good: approvals forgotten, staged copies removed."""
        with self._lock:
            if self.finished:
                return
            self.abort_reason = reason
            self._stop.set()
            self.approval_book.clear(f"transfer aborted: {reason}")
            self._discard_staging(self.verification)
            self._record("abort", reason=reason, state=self.state.value)
            self._move(TransferState.ABORTED, f"aborted: {reason}")

    def close(self) -> None:
        """The media went away after the transfer ended: drop what is left in staging."""
        with self._lock:
            if not self.finished:
                self.abort("the media was removed")
            elif self._home_lock is None:
                self._discard_staging(self.verification)
            # With the home's lock, a final state already removed this transfer's staging;
            # removing it again now could hit another transfer's copy of the same bundle.

    def _discard_staging(self, verification: Verification | None) -> None:
        staged = verification.staged if verification is not None else None
        if staged is not None and staged.root is not None:
            shutil.rmtree(staged.root, ignore_errors=True)
