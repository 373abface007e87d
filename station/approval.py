"""Operators, their credentials, and the two-person rule.

No single person may bring content across: two distinct, enabled accounts approve the same
bundle digest and the same verification result, and the second confirms the digest out of
band by typing its last 8 characters from the transfer request form. Approvals expire after a
configured time and are cleared on any media change. The workflow calls `ApprovalBook`; the
rule holds whatever the UI does.

Accounts live in `<home>/operators.toml` (station.toml is the administrator's hand-written
file; this one is written by `station operators` and by the lock-out counter, atomically, with
a small writer of our own: names are restricted to `[a-z_][a-z0-9_.-]*`, so every value is a
plain ASCII string, integer or boolean and needs no TOML library). A PIN or passphrase is kept
only as an scrypt hash whose parameters are stored with it, so they can be raised later.

Settings, in station.toml:

    [approval]
    expiry_seconds = 900            # an approval older than this no longer counts
    max_failures = 5                # wrong PINs in a row before the account locks
    first_roles = ["operator", "verifier", "admin"]
    second_roles = ["verifier", "admin"]
    allow_noninteractive = false    # `station import` may take approvals from a script
"""

from __future__ import annotations

import base64
import fcntl
import functools
import hashlib
import hmac
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from station.atomic import replace_file
from station.config import OperatorEntry, StationConfig, decode_operators
from station.errors import StationError

if TYPE_CHECKING:
    from station.audit import AuditLog

OPERATORS_NAME = "operators.toml"
SUFFIX_LENGTH = 8
MIN_SECRET_LENGTH = 6
_NAME = re.compile(r"[a-z_][a-z0-9_.-]{0,31}")
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
_SCRYPT_MAXMEM = 256 * 1024 * 1024


class Role(StrEnum):
    """What an account may do: operators approve first, verifiers second, admins both."""

    OPERATOR = "operator"
    VERIFIER = "verifier"
    ADMIN = "admin"


class ApprovalError(StationError):
    """An approval was refused; `code` is stable for the audit log and scripts."""

    exit_code = 1

    def __init__(self, code: str, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.code = code


# -- secrets --------------------------------------------------------------------------------


def hash_secret(secret: str, *, n: int = _SCRYPT_N, r: int = _SCRYPT_R, p: int = _SCRYPT_P) -> str:
    """`scrypt$n=..,r=..,p=..$salt$hash` (base64): the parameters travel with the hash."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        secret.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=_SCRYPT_MAXMEM, dklen=32
    )
    return f"scrypt$n={n},r={r},p={p}${_b64(salt)}${_b64(digest)}"


def check_secret(secret: str, encoded: str) -> bool:
    """Constant-time comparison against a stored hash; a malformed hash never matches."""
    try:
        scheme, params, salt_text, hash_text = encoded.split("$")
        values = dict(item.split("=", 1) for item in params.split(","))
        n, r, p = int(values["n"]), int(values["r"]), int(values["p"])
        salt, expected = _unb64(salt_text), _unb64(hash_text)
    except (ValueError, KeyError):
        return False
    if scheme != "scrypt" or not expected:
        return False
    try:
        digest = hashlib.scrypt(
            secret.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=_SCRYPT_MAXMEM,
            dklen=len(expected),
        )
    except (ValueError, MemoryError):  # parameters out of range: never a match
        return False
    return hmac.compare_digest(digest, expected)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


@functools.cache
def _dummy_hash() -> str:
    """Compared against when the account does not exist, so that the answer takes as long
    as for a real account and does not tell which names exist (made once, when first needed,
    not at every CLI start)."""
    return hash_secret(secrets.token_hex(16))


# -- accounts -------------------------------------------------------------------------------


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
            role=_role(role),
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

    def authenticate(self, name: str, secret: str) -> Operator:
        """The account if the secret is right; counts failures and locks at the limit.

        Unknown names and wrong secrets give the same message (and take as long), so the
        kiosk does not tell a stranger which names exist.
        """
        with self._editing() as accounts:
            operator = accounts.get(name)
            if operator is None:
                check_secret(secret, _dummy_hash())
                raise ApprovalError("unknown-operator", "unknown operator or wrong PIN")
            if not operator.enabled:
                raise ApprovalError(
                    "disabled", f"account {name!r} is disabled", hint="ask an administrator"
                )
            if operator.locked:
                raise ApprovalError(
                    "locked",
                    f"account {name!r} is locked after {operator.failures} wrong PINs",
                    hint="an administrator unlocks it with `station operators enable`",
                )
            if not check_secret(secret, operator.secret_hash):
                failures = operator.failures + 1
                locked = failures >= self.max_failures
                accounts[name] = replace(operator, failures=failures, locked=locked)
                if locked:
                    raise ApprovalError(
                        "locked",
                        f"wrong PIN; account {name!r} is now locked after {failures} tries",
                        hint="an administrator unlocks it with `station operators enable`",
                    )
                raise ApprovalError("wrong-secret", "unknown operator or wrong PIN")
            if operator.failures:
                operator = replace(operator, failures=0)
                accounts[name] = operator
            return operator


def _role(value: Role | str) -> Role:
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


# -- settings -------------------------------------------------------------------------------


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


# -- the two-person rule --------------------------------------------------------------------


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
