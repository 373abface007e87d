"""Who may leave the kiosk or open the admin screens: an enabled operator account whose role
is admin (`station.approval.OperatorStore`), so a wrong PIN counts toward its lock-out."""

from __future__ import annotations

from dataclasses import dataclass

from station.approval import OperatorStore, Role
from station.errors import StationError


@dataclass(frozen=True)
class AdminGate:
    """Checks (name, secret); slow on purpose (scrypt), so call it from a worker."""

    operators: OperatorStore

    def check(self, name: str, secret: str) -> str | None:
        """None when this is an admin, else why not (the same words for unknown and wrong)."""
        try:
            operator = self.operators.authenticate(name, secret)
        except StationError as refused:
            return refused.message
        if operator.role is not Role.ADMIN:
            return f"{name} is not an administrator"
        return None
