"""An admin's override of a rollback rejection: who, why, for which bundle, audited first.

Only the rollback findings can be overridden (an older or replayed bundle that a site really
wants back); every other finding must be fixed at the source. The override is for one
transfer: it never lowers the channel's rollback mark (`sequences.SequenceStore`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from station.approval import Operator, Role
from station.bundle.model import Finding
from station.errors import StationError

if TYPE_CHECKING:
    from station.audit import AuditLog

OVERRIDABLE = frozenset({"rollback", "rollback-unknown"})


def override(
    findings: Sequence[Finding],
    *,
    admin: Operator,
    reason: str,
    digest: str,
    audit: AuditLog,
) -> list[Finding]:
    """Drop rollback findings on an admin's word, audited first; the others stay.

    `admin` must be an authenticated account with the admin role (the caller checked the PIN
    through `OperatorStore.authenticate`).
    """
    if admin.role is not Role.ADMIN or not admin.usable:
        raise StationError(
            f"{admin.name} may not override the policy", hint="an admin account is needed"
        )
    if not reason.strip():
        raise StationError("an override needs a reason for the audit log")
    dropped = [f for f in findings if f.code in OVERRIDABLE]
    if dropped:
        audit.append(
            "policy-override",
            actor=admin.name,
            digest=digest,
            reason=reason,
            overridden=[f.to_json() for f in dropped],
        )
    return [f for f in findings if f.code not in OVERRIDABLE]
