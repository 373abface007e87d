"""The operators file, `<home>/operators.toml`: accounts, roles, lock-out and unlocking.

station.toml is the administrator's hand-written file; this one is written by `station
operators`, by the lock-out counter and by an admin unlocking an account at the kiosk,
atomically, with a small writer of our own: names are restricted to `[a-z_][a-z0-9_.-]*`, so
every value is a plain ASCII string, integer or boolean and needs no TOML library.

The credentials rule: people type PINs into name fields, so a typed name that matches no
account is never written anywhere (audit log, syslog, messages). `OperatorStore.known_name`
is the only way a typed name reaches a record: it gives the account's name, or None.
Account names themselves are not secret (receipts and the approval screen show them), so a
wrong PIN for a real account says how many tries are left before it locks.
"""

from __future__ import annotations

import fcntl
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from station.approval.secrets import MIN_SECRET_LENGTH, dummy_hash, hash_secret, secret_matches
from station.atomic import replace_file
from station.config import OperatorEntry, StationConfig, decode_operators
from station.errors import StationError

if TYPE_CHECKING:
    from station.audit import AuditLog

OPERATORS_NAME = "operators.toml"
_NAME = re.compile(r"[a-z_][a-z0-9_.-]{0,31}")


class Role(StrEnum):
    """What an account may do: operators approve first, verifiers second, admins both."""

    OPERATOR = "operator"
    VERIFIER = "verifier"
    ADMIN = "admin"


UNLOCK_HINT = (
    "ask an administrator to unlock it on the kiosk's admin screen "
    "(on the command line: `station operators enable NAME`)"
)


A_ROLE = {Role.OPERATOR: "an operator", Role.VERIFIER: "a verifier", Role.ADMIN: "an admin"}
"""Each role with its article, for sentences ("alice is an operator")."""


class ApprovalError(StationError):
    """An approval or sign-in was refused; `code` is stable for the audit log and scripts.

    `tries_left` is set for a wrong PIN on a real account: wrong PINs still allowed before
    it locks.
    """

    exit_code = 1

    def __init__(
        self, code: str, message: str, *, hint: str | None = None, tries_left: int | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.code = code
        self.tries_left = tries_left


@dataclass(frozen=True)
class Operator:
    """One account. `failures` counts wrong secrets in a row; `locked` is set at the limit."""

    name: str
    role: Role
    secret_hash: str
    enabled: bool = True
    failures: int = 0
    locked: bool = False
    created: str = ""

    @property
    def usable(self) -> bool:
        return self.enabled and not self.locked

    @property
    def status(self) -> str:
        if not self.enabled:
            return "disabled"
        return "locked" if self.locked else "enabled"


def check_name(name: str) -> str:
    """Account names are short, lowercase and plain so they read the same everywhere."""
    if not _NAME.fullmatch(name):
        raise StationError(
            f"operator name {name!r} is not allowed",
            hint="use 1-32 characters: a-z, 0-9, '_', '.', '-', starting with a letter or '_'",
        )
    return name


def account_name(typed: str) -> str:
    """What a typed name means: surrounding spaces dropped and, for ASCII, lower case.

    Account names are lower case ASCII, so a name typed with Shift or Caps Lock still finds
    its account; other characters are left alone (no Unicode folding onto ASCII names).
    """
    name = typed.strip()
    return name.lower() if name.isascii() else name


def check_new_secret(secret: str) -> str:
    if len(secret) < MIN_SECRET_LENGTH:
        raise StationError(
            f"the PIN or passphrase is too short (at least {MIN_SECRET_LENGTH} characters)"
        )
    return secret


class OperatorStore:
    """The accounts file, `<home>/operators.toml`; every change is written atomically."""

    def __init__(self, path: str | os.PathLike[str], *, max_failures: int = 5) -> None:
        self.path = Path(path)
        self.max_failures = max_failures
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config: StationConfig) -> OperatorStore:
        from station.approval.settings import ApprovalSettings

        settings = ApprovalSettings.from_config(config)
        return cls(config.home / OPERATORS_NAME, max_failures=settings.max_failures)

    def load(self) -> dict[str, Operator]:
        """All accounts by name; a missing file means none. A damaged file is an error."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except (OSError, UnicodeDecodeError) as exc:
            raise StationError(f"cannot read the operator accounts {self.path}: {exc}") from exc
        return {
            name: _operator_from(name, entry)
            for name, entry in decode_operators(text, self.path).items()
        }

    def get(self, name: str) -> Operator | None:
        return self.load().get(name)

    @contextmanager
    def _editing(self) -> Iterator[dict[str, Operator]]:
        """Load, let the caller change the accounts, write back; one writer at a time."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.path.with_name(self.path.name + ".lock")
        with self._lock, open(lock_path, "a") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            accounts = self.load()
            before = dict(accounts)
            try:
                yield accounts
            finally:  # a refused login still counts its failure
                if accounts != before:
                    self._write(accounts)

    def _write(self, accounts: dict[str, Operator]) -> None:
        text = _render(accounts)
        try:
            replace_file(self.path, text.encode("utf-8"))
        except OSError as exc:
            raise StationError(f"cannot write the operator accounts {self.path}: {exc}") from exc

    def add(self, name: str, role: Role | str, secret: str) -> Operator:
        """Create an account; an existing name is refused, not overwritten."""
        check_name(name)
        check_new_secret(secret)
        operator = Operator(
            name=name,
            role=parse_role(role),
            secret_hash=hash_secret(secret),
            created=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        with self._editing() as accounts:
            if name in accounts:
                raise StationError(
                    f"operator {name!r} already exists",
                    hint="disable it and choose another name, or use `station operators enable`",
                )
            accounts[name] = operator
        return operator

    def set_enabled(self, name: str, enabled: bool) -> Operator:
        """Disable an account, or enable it again (which also lifts a lock-out)."""
        with self._editing() as accounts:
            if name not in accounts:
                raise StationError(f"no operator named {name!r}")
            changed = replace(accounts[name], enabled=enabled)
            if enabled:
                changed = replace(changed, locked=False, failures=0)
            accounts[name] = changed
        return changed

    def known_name(self, typed: str) -> str | None:
        """The account a typed name designates, or None: the only form in which a typed name
        may be recorded (an unknown "name" is often a PIN typed into the wrong field)."""
        name = account_name(typed)
        return name if name in self.load() else None

    def locked_accounts(self) -> list[Operator]:
        """Accounts locked after too many wrong PINs, by name (the admin screen lists them)."""
        return sorted((op for op in self.load().values() if op.locked), key=lambda op: op.name)

    def authenticate(self, name: str, secret: str) -> Operator:
        """The account if the secret is right; counts failures and locks at the limit.

        The name is matched as `account_name` reads it (Shift and Caps Lock do not matter);
        the secret as typed or with Caps Lock on (`secret_matches`). An unknown name costs as
        much time as a wrong PIN and its message never repeats what was typed.
        """
        name = account_name(name)
        with self._editing() as accounts:
            operator = accounts.get(name)
            if operator is None:
                secret_matches(secret, dummy_hash())
                raise ApprovalError(
                    "unknown-operator",
                    "unknown operator or wrong PIN",
                    hint="check the name (as your account was created) and the PIN",
                )
            if not operator.enabled:
                raise ApprovalError(
                    "disabled", f"account {name!r} is disabled", hint="ask an administrator"
                )
            if operator.locked:
                raise ApprovalError(
                    "locked",
                    f"account {name!r} is locked after {operator.failures} wrong PINs",
                    hint=UNLOCK_HINT,
                )
            if not secret_matches(secret, operator.secret_hash):
                failures = operator.failures + 1
                locked = failures >= self.max_failures
                accounts[name] = replace(operator, failures=failures, locked=locked)
                if locked:
                    raise ApprovalError(
                        "locked",
                        f"wrong PIN; account {name!r} is now locked after {failures} tries",
                        hint=UNLOCK_HINT,
                        tries_left=0,
                    )
                left = self.max_failures - failures
                raise ApprovalError(
                    "wrong-secret",
                    f"wrong PIN for {name}: {left} {'try' if left == 1 else 'tries'} left "
                    "before the account locks",
                    hint="type the PIN again, slowly",
                    tries_left=left,
                )
            if operator.failures:
                operator = replace(operator, failures=0)
                accounts[name] = operator
            return operator

    def sign_in(self, typed_name: str, secret: str, *, role: Role, audit: AuditLog,
                where: str) -> Operator:
        """Sign in for a task only `role` may do (the kiosk's admin screen); audited as
        `login` or `login-failed`, with the account as actor and never an unknown name."""
        try:
            operator = self.authenticate(typed_name, secret)
            if operator.role is not role:
                raise ApprovalError("wrong-role", f"{operator.name} is not {A_ROLE[role]}")
        except ApprovalError as refused:
            audit.append(
                "login-failed", actor=self.known_name(typed_name), role=role.value,
                code=refused.code, reason=refused.message, where=where,
            )
            raise
        audit.append("login", actor=operator.name, role=role.value, where=where)
        return operator

    def unlock(self, name: str, *, admin: str, audit: AuditLog, where: str) -> Operator:
        """An admin lifts a lock-out (the kiosk's admin screen); audited either way.

        `admin` must name an enabled, unlocked admin account *now* (read again here, not
        trusted from an earlier sign-in). Success is an `admin-action` `operator-unlocked`.
        """
        with self._editing() as accounts:
            account = accounts.get(admin)
            target = accounts.get(name)
            refusal = None
            if account is None or account.role is not Role.ADMIN or not account.usable:
                refusal = ApprovalError("not-admin", "only an administrator may unlock accounts")
            elif target is None:
                refusal = ApprovalError("unknown-operator", "there is no such account")
            elif not target.locked:
                refusal = ApprovalError("not-locked", f"account {name!r} is not locked")
            else:
                accounts[name] = replace(target, locked=False, failures=0)
        if refusal is not None:
            audit.append(
                "admin-action", actor=admin if account is not None else None,
                action="operator-unlock-refused", operator=name if target is not None else None,
                reason=refusal.message, where=where,
            )
            raise refusal
        assert target is not None  # noqa: S101 - refusal is None only with a target
        audit.append(
            "admin-action", actor=admin, action="operator-unlocked", operator=name,
            role=target.role.value, failures=target.failures, where=where,
        )
        return accounts[name]


def parse_role(value: Role | str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise StationError(
            f"role {value!r} is not known", hint="use operator, verifier or admin"
        ) from None


def _operator_from(name: str, entry: OperatorEntry) -> Operator:
    """One account from its entry in operators.toml (already checked by the typed model)."""
    return Operator(
        name=name,
        role=Role(entry.role),
        secret_hash=entry.secret,
        enabled=entry.enabled,
        failures=entry.failures,
        locked=entry.locked,
        created=entry.created,
    )


def _render(accounts: dict[str, Operator]) -> str:
    """TOML for validated names and ASCII values; read back before it replaces the file."""
    lines = ["# Written by `station operators`; edit with that command, not by hand.", ""]
    for name in sorted(accounts):
        op = accounts[name]
        for value in (op.secret_hash, op.created):
            if not re.fullmatch(r"[A-Za-z0-9$=,+/:.\-]*", value):
                raise StationError(f"operator {name!r} has a value that cannot be stored")
        lines += [
            f'[operators."{check_name(name)}"]',
            f'role = "{op.role.value}"',
            f'secret = "{op.secret_hash}"',
            f"enabled = {str(op.enabled).lower()}",
            f"failures = {int(op.failures)}",
            f"locked = {str(op.locked).lower()}",
            f'created = "{op.created}"',
            "",
        ]
    text = "\n".join(lines)
    parsed = decode_operators(text, Path(OPERATORS_NAME))
    if {n: _operator_from(n, f) for n, f in parsed.items()} != accounts:
        raise StationError("operator accounts did not survive writing; nothing was changed")
    return text


