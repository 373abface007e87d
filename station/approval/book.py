"""The two-person book: approvals of one bundle digest and one verification result.

No single person may bring content across: two distinct, enabled accounts approve the same
bundle digest and the same verification result, and the second confirms the digest out of
band by typing its last 8 characters from the transfer request form. Approvals expire after a
configured time and are cleared on any media change. The workflow calls `ApprovalBook`; the
rule holds whatever the UI does.
"""

from __future__ import annotations

import hmac
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from station.approval.accounts import ApprovalError, OperatorStore, Role
from station.approval.settings import ApprovalSettings
from station.config import StationConfig

if TYPE_CHECKING:
    from station.audit import AuditLog

SUFFIX_LENGTH = 8


@dataclass(frozen=True)
class Approval:
    """One person's approval of one bundle digest and one verification result."""

    operator: str
    role: Role
    bundle_digest: str
    verification_id: str
    at: datetime
    order: int
    noninteractive: bool = False
    monotonic: float = 0.0


def digest_suffix(bundle_digest: str) -> str:
    """The last 8 characters of the digest, what the second person types."""
    return bundle_digest[-SUFFIX_LENGTH:].lower()


class ApprovalBook:
    """The approvals for the transfer in progress; the workflow asks it before importing.

    `clock` is monotonic seconds (for expiry, immune to wall-clock changes). When an
    `AuditLog` is given, every approval and refusal is recorded before the call returns.
    """

    def __init__(
        self,
        operators: OperatorStore,
        settings: ApprovalSettings | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        audit: AuditLog | None = None,
    ) -> None:
        self.operators = operators
        self.settings = settings or ApprovalSettings()
        self._clock = clock
        self._audit = audit
        self._approvals: list[Approval] = []
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config: StationConfig, *, audit: AuditLog | None = None) -> ApprovalBook:
        return cls(
            OperatorStore.from_config(config), ApprovalSettings.from_config(config), audit=audit
        )

    @property
    def approvals(self) -> tuple[Approval, ...]:
        """The approvals that still count (not expired)."""
        with self._lock:
            self._drop_expired()
            return tuple(self._approvals)

    def _drop_expired(self) -> None:
        now = self._clock()
        self._approvals = [
            a for a in self._approvals if now - a.monotonic < self.settings.expiry_seconds
        ]

    def approve(
        self,
        username: str,
        secret: str,
        bundle_digest: str,
        verification_id: str,
        typed_suffix: str | None = None,
        *,
        noninteractive: bool = False,
    ) -> Approval:
        """Record one approval, or raise ApprovalError with a message for the operator."""
        try:
            approval = self._approve(
                username, secret, bundle_digest, verification_id, typed_suffix, noninteractive
            )
        except ApprovalError as exc:
            # An unknown name is not recorded: people type their PIN into the name field.
            actor = None if exc.code == "unknown-operator" else username
            self._record(
                "approval-refused", actor, digest=bundle_digest,
                verification=verification_id, code=exc.code, reason=exc.message,
                noninteractive=noninteractive,
            )
            raise
        self._record(
            "approval", username, digest=bundle_digest, verification=verification_id,
            role=approval.role.value, order=approval.order, noninteractive=noninteractive,
        )
        return approval

    def _approve(
        self,
        username: str,
        secret: str,
        bundle_digest: str,
        verification_id: str,
        typed_suffix: str | None,
        noninteractive: bool,
    ) -> Approval:
        if noninteractive and not self.settings.allow_noninteractive:
            raise ApprovalError(
                "noninteractive-refused",
                "non-interactive approvals are not allowed on this station",
                hint="set [approval] allow_noninteractive = true (automated test rigs only)",
            )
        if not bundle_digest or not verification_id:
            raise ApprovalError("not-verified", "there is no verified bundle to approve")
        operator = self.operators.authenticate(username, secret)
        with self._lock:
            self._drop_expired()
            earlier = self._approvals
            for approval in earlier:
                if approval.bundle_digest != bundle_digest:
                    raise ApprovalError(
                        "other-digest",
                        f"{approval.operator} approved a different bundle "
                        f"({approval.bundle_digest}); both must approve the same one",
                        hint="start the approval again",
                    )
                if approval.verification_id != verification_id:
                    raise ApprovalError(
                        "other-verification",
                        f"{approval.operator} approved an earlier verification of this bundle; "
                        "both must approve the same result",
                        hint="start the approval again",
                    )
                if approval.operator == operator.name:
                    raise ApprovalError(
                        "same-person",
                        f"{operator.name} has already approved; a second, different person "
                        "must approve",
                    )
            if len(earlier) >= 2:
                raise ApprovalError("already-approved", "this bundle already has two approvals")
            order = len(earlier) + 1
            roles = self.settings.first_roles if order == 1 else self.settings.second_roles
            if operator.role not in roles:
                allowed = ", ".join(sorted(r.value for r in roles))
                which = "first" if order == 1 else "second"
                raise ApprovalError(
                    "wrong-role",
                    f"{operator.name} is a {operator.role.value}; the {which} approval needs "
                    f"the role {allowed}",
                )
            if order == 2 or typed_suffix is not None:
                typed = (typed_suffix or "").strip().lower()
                if not hmac.compare_digest(typed, digest_suffix(bundle_digest)):
                    raise ApprovalError(
                        "wrong-suffix",
                        "the characters typed are not the last 8 of the bundle digest",
                        hint="read them from the transfer request form, not from this screen",
                    )
            approval = Approval(
                operator=operator.name,
                role=operator.role,
                bundle_digest=bundle_digest,
                verification_id=verification_id,
                at=datetime.now(UTC),
                order=order,
                noninteractive=noninteractive,
                monotonic=self._clock(),
            )
            self._approvals.append(approval)
            return approval

    def is_satisfied(self, bundle_digest: str, verification_id: str) -> bool:
        """Two distinct accounts, still enabled, approved this digest and this verification."""
        with self._lock:
            self._drop_expired()
            approvals = [
                a
                for a in self._approvals
                if a.bundle_digest == bundle_digest and a.verification_id == verification_id
            ]
        accounts = self.operators.load()
        names = {a.operator for a in approvals if a.operator in accounts}
        usable = {name for name in names if accounts[name].usable}
        if len(usable) < 2 or usable != names:
            return False
        return any(
            a.order == 2 and accounts[a.operator].role in self.settings.second_roles
            for a in approvals
        )

    def clear(self, reason: str) -> int:
        """Forget every approval (media changed, transfer aborted); returns how many."""
        with self._lock:
            count = len(self._approvals)
            self._approvals = []
        if count:
            self._record("approvals-cleared", None, reason=reason, count=count)
        return count

    def _record(self, event: str, actor: str | None, **fields: Any) -> None:
        if self._audit is not None:
            self._audit.append(event, actor=actor, **fields)
