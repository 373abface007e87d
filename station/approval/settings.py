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

from station.approval.accounts import ApprovalError, Role, parse_role
from station.config import StationConfig
from station.errors import StationError


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
        table = dict(config.table("approval"))
        where = f"{config.config_path}: [approval]"
        known = {
            "expiry_seconds", "max_failures", "first_roles", "second_roles",
            "allow_noninteractive",
        }
        unknown = set(table) - known
        if unknown:
            raise StationError(
                f"{where}: unknown keys {', '.join(sorted(unknown))}",
                hint=f"known keys: {', '.join(sorted(known))}",
            )
        settings = cls()
        expiry = table.get("expiry_seconds", settings.expiry_seconds)
        failures = table.get("max_failures", settings.max_failures)
        allow = table.get("allow_noninteractive", False)
        if isinstance(expiry, bool) or not isinstance(expiry, int | float) or expiry <= 0:
            raise StationError(f"{where} expiry_seconds must be a positive number")
        if isinstance(failures, bool) or not isinstance(failures, int) or failures < 1:
            raise StationError(f"{where} max_failures must be a positive integer")
        if not isinstance(allow, bool):
            raise StationError(f"{where} allow_noninteractive must be true or false")
        roles = {}
        for key in ("first_roles", "second_roles"):
            value = table.get(key, [r.value for r in getattr(settings, key)])
            if not isinstance(value, list) or not value:
                raise StationError(f"{where} {key} must be a non-empty list of roles")
            roles[key] = frozenset(parse_role(str(v)) for v in value)
        return cls(float(expiry), failures, roles["first_roles"], roles["second_roles"], allow)


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


