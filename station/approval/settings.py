"""`[approval]` in station.toml: expiry, lock-out limit, who may approve, scripted approvals.

    [approval]
    expiry_seconds = 900            # an approval older than this no longer counts
    max_failures = 5                # wrong PINs in a row before the account locks
    first_roles = ["operator", "verifier", "admin"]
    second_roles = ["verifier", "admin"]
    allow_noninteractive = false    # `station import` may take approvals from a script

`ApprovalSettings.from_config(config)` is the one entry point, so a typed configuration
model can replace the checks below without touching the callers.
"""

from __future__ import annotations

from dataclasses import dataclass

from station.approval.accounts import ApprovalError, Role
from station.config import StationConfig


@dataclass(frozen=True)
class ApprovalSettings:
    """`[approval]` in station.toml."""

    expiry_seconds: float = 900.0
    max_failures: int = 5
    first_roles: frozenset[Role] = frozenset(Role)
    second_roles: frozenset[Role] = frozenset({Role.VERIFIER, Role.ADMIN})
    allow_noninteractive: bool = False

    @classmethod
    def from_config(cls, config: StationConfig) -> ApprovalSettings:
        """`[approval]` as checked by the typed configuration model at start-up."""
        section = config.approval
        return cls(
            expiry_seconds=section.expiry_seconds,
            max_failures=section.max_failures,
            first_roles=frozenset(Role(r) for r in section.first_roles),
            second_roles=frozenset(Role(r) for r in section.second_roles),
            allow_noninteractive=section.allow_noninteractive,
        )


def noninteractive_allowed(config: StationConfig) -> bool:
    """Whether `station import` may take both approvals from a script (automated rigs)."""
    return ApprovalSettings.from_config(config).allow_noninteractive


def require_noninteractive_allowed(config: StationConfig) -> None:
    """Raise unless the config allows non-interactive approvals."""
    if not noninteractive_allowed(config):
        raise ApprovalError(
            "noninteractive-refused",
            "non-interactive approvals are not allowed on this station",
            hint=f"set [approval] allow_noninteractive = true in {config.config_path} "
            "(automated test rigs only)",
        )


