"""The two-person book: approvals of one bundle digest and one verification result.

No single person may bring content across: two distinct, enabled accounts approve the same
bundle digest and the same verification result, and the second confirms the digest out of
band by typing its last 8 characters from the transfer request form. The workflow calls
`ApprovalBook`; the rule holds whatever the UI does.

Approvals expire after `[approval] expiry_seconds`. An expiry is never silent: whoever looks
at the book next (the kiosk's one-second timer through `status`, or any other call) drops
the approval and writes an `approval-expired` record first. Approvals are cleared on any
media change, and the operators may start them again (`restart`, audited), for instance
after a refused role.
"""

from __future__ import annotations

import hmac
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from station.approval.accounts import A_ROLE, ApprovalError, OperatorStore, Role
from station.approval.settings import ApprovalSettings
from station.config import StationConfig

if TYPE_CHECKING:
    from station.audit import AuditLog

SUFFIX_LENGTH = 8


@dataclass(frozen=True)
class Approval:
    """One person's approval of one bundle digest and one verification result.

    `at` is wall-clock UTC (for people and the audit log); `monotonic` is the book's clock
    reading at the same moment, from which expiry is counted (immune to clock changes).
    """

    operator: str
    role: Role
    bundle_digest: str
    verification_id: str
    at: datetime
    order: int
    noninteractive: bool = False
    monotonic: float = 0.0


@dataclass(frozen=True)
class ApprovalState:
    """The approvals of one verification as a screen shows them: who, when, and time left.

    `expired` lists the approvals that expired since the approvals last (re)started, each
    already on record as `approval-expired`; `seconds_left` pairs with `approvals`.
    """

    bundle_digest: str
    verification_id: str
    approvals: tuple[Approval, ...]
    seconds_left: tuple[float, ...]
    expired: tuple[Approval, ...]
    settings: ApprovalSettings

    @property
    def needed(self) -> int:
        """How many approvals the import still waits for."""
        return max(0, 2 - len(self.approvals))

    @property
    def next_order(self) -> int:
        """Which approval the next person gives: 1 or 2 (3 once complete)."""
        return len(self.approvals) + 1

    @property
    def next_roles(self) -> frozenset[Role]:
        """Who may give the next approval."""
        if self.next_order == 1:
            return self.settings.first_roles
        return self.settings.second_roles

    def expires_at(self, approval: Approval) -> datetime:
        """When this approval stops counting, wall-clock UTC."""
        return approval.at + timedelta(seconds=self.settings.expiry_seconds)


def roles_in_words(roles: Iterable[Role]) -> str:
    """`an operator, a verifier or an admin`, in the roles' own order."""
    words = [A_ROLE[role] for role in Role if role in set(roles)]
    if len(words) < 2:
        return "".join(words)
    return ", ".join(words[:-1]) + " or " + words[-1]


def digest_suffix(bundle_digest: str) -> str:
    """The last 8 characters of the digest, what the second person types."""
    return bundle_digest[-SUFFIX_LENGTH:].lower()


_HEX = re.compile(r"[0-9a-fA-F]*")


def suffix_bytes(typed: str) -> bytes:
    """What the second person typed, as the ASCII hex bytes to compare with the digest.

    Spaces are ignored (the digest is shown in groups of four) and so is case; anything but
    hex digits is refused in words, before any comparison (hmac compares bytes, never str).
    """
    compact = "".join(typed.split())
    if not compact.isascii() or not _HEX.fullmatch(compact):
        raise ApprovalError(
            "suffix-not-hex",
            "the last 8 characters of the digest are hexadecimal (0-9 and a-f); "
            "what was typed holds other characters",
            hint="read them again from the transfer request form; spaces and case do not matter",
        )
    return compact.lower().encode("ascii")


class ApprovalBook:
    """The approvals for the transfer in progress; the workflow asks it before importing.

    `clock` is monotonic seconds (for expiry, immune to wall-clock changes) and `wall_clock`
    the UTC time shown to people; tests pass both. When an `AuditLog` is given, every
    approval, refusal, expiry and restart is recorded before the call returns.
    """

    def __init__(
        self,
        operators: OperatorStore,
        settings: ApprovalSettings | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        audit: AuditLog | None = None,
    ) -> None:
        self.operators = operators
        self.settings = settings or ApprovalSettings()
        self._clock = clock
        self._wall_clock = wall_clock
        self._audit = audit
        self._approvals: list[Approval] = []
        self._expired: list[Approval] = []
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config: StationConfig, *, audit: AuditLog | None = None) -> ApprovalBook:
        return cls(
            OperatorStore.from_config(config), ApprovalSettings.from_config(config), audit=audit
        )

    # -- looking: every look expires (and audits) what is past its time ---------------------

    @property
    def approvals(self) -> tuple[Approval, ...]:
        """The approvals that still count (expired ones are dropped and audited first)."""
        with self._lock:
            self._expire()
            return tuple(self._approvals)

    def expire(self) -> tuple[Approval, ...]:
        """Drop the approvals past their time, each with an `approval-expired` record.

        Called by anything that looks at the book, and by the kiosk every second so that an
        expiry is on record (and on screen) when it happens, not when someone next acts.
        """
        with self._lock:
            return self._expire()

    def status(self, bundle_digest: str, verification_id: str) -> ApprovalState:
        """The approvals of this verification, after expiring what is past its time."""
        with self._lock:
            self._expire()
            now = self._clock()
            mine = [a for a in self._approvals if _same(a, bundle_digest, verification_id)]
            expired = [a for a in self._expired if _same(a, bundle_digest, verification_id)]
        left = tuple(self.settings.expiry_seconds - (now - a.monotonic) for a in mine)
        return ApprovalState(
            bundle_digest, verification_id, tuple(mine), left, tuple(expired), self.settings
        )

    def _expire(self) -> tuple[Approval, ...]:
        now = self._clock()
        expired = [a for a in self._approvals if now - a.monotonic >= self.settings.expiry_seconds]
        for approval in expired:  # on record before anyone can see it gone
            self._record(
                "approval-expired", approval.operator, digest=approval.bundle_digest,
                verification=approval.verification_id, order=approval.order,
                role=approval.role.value,
                approved_at=approval.at.isoformat(timespec="seconds"),
                expiry_seconds=self.settings.expiry_seconds,
            )
            self._approvals.remove(approval)
            self._expired.append(approval)
        return tuple(expired)

    # -- approving ----------------------------------------------------------------------------

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
            # Only a name that matches an account is recorded: people type PINs there.
            self._record(
                "approval-refused", self.operators.known_name(username), digest=bundle_digest,
                verification=verification_id, code=exc.code, reason=exc.message,
                noninteractive=noninteractive,
            )
            raise
        self._record(
            "approval", approval.operator, digest=bundle_digest, verification=verification_id,
            role=approval.role.value, order=approval.order, noninteractive=noninteractive,
        )
        return approval

    def _approve(
        self,
        username: str,
        secret: str,
        bundle_digest: str,
        verification_id: str,
        typed: str | None,
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
            self._expire()
            earlier = self._approvals
            for approval in earlier:
                if approval.bundle_digest != bundle_digest:
                    raise ApprovalError(
                        "other-digest",
                        f"{approval.operator} approved a different bundle "
                        f"({approval.bundle_digest}); both must approve the same one",
                        hint="start the approvals again",
                    )
                if approval.verification_id != verification_id:
                    raise ApprovalError(
                        "other-verification",
                        f"{approval.operator} approved an earlier verification of this bundle; "
                        "both must approve the same result",
                        hint="start the approvals again",
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
                which = "first" if order == 1 else "second"
                raise ApprovalError(
                    "wrong-role",
                    f"{operator.name} is {A_ROLE[operator.role]}; the {which} approval must "
                    f"come from {roles_in_words(roles)}",
                    hint=(f"let {roles_in_words(roles)} approve {which}"
                          + (", or start the approvals again" if earlier else "")),
                )
            if (order == 2 or typed is not None) and not hmac.compare_digest(
                suffix_bytes(typed or ""), digest_suffix(bundle_digest).encode("ascii")
            ):
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
                at=self._wall_clock(),
                order=order,
                noninteractive=noninteractive,
                monotonic=self._clock(),
            )
            self._approvals.append(approval)
            return approval

    def is_satisfied(self, bundle_digest: str, verification_id: str) -> bool:
        """Two distinct accounts, still enabled, approved this digest and this verification."""
        with self._lock:
            self._expire()
            approvals = [a for a in self._approvals if _same(a, bundle_digest, verification_id)]
        accounts = self.operators.load()
        names = {a.operator for a in approvals if a.operator in accounts}
        usable = {name for name in names if accounts[name].usable}
        if len(usable) < 2 or usable != names:
            return False
        return any(
            a.order == 2 and accounts[a.operator].role in self.settings.second_roles
            for a in approvals
        )

    # -- starting over ------------------------------------------------------------------------

    def restart(self, bundle_digest: str, verification_id: str, reason: str) -> int:
        """The operators start the approvals of this verification again (after a refused
        role, say): every approval given is dropped, on record. Returns how many."""
        with self._lock:
            self._expire()
            dropped = [a.operator for a in self._approvals]
            self._approvals = []
            self._expired = []
            self._record(
                "approvals-restarted", None, digest=bundle_digest,
                verification=verification_id, reason=reason, count=len(dropped),
                operators=dropped,
            )
        return len(dropped)

    def clear(self, reason: str) -> int:
        """Forget every approval (media changed, transfer aborted); returns how many."""
        with self._lock:
            count = len(self._approvals)
            self._approvals = []
            self._expired = []
        if count:
            self._record("approvals-cleared", None, reason=reason, count=count)
        return count

    def _record(self, event: str, actor: str | None, **fields: Any) -> None:
        if self._audit is not None:
            self._audit.append(event, actor=actor, **fields)


def _same(approval: Approval, bundle_digest: str, verification_id: str) -> bool:
    return approval.bundle_digest == bundle_digest and approval.verification_id == verification_id
