"""The station home and the one typed model of the files an administrator writes.

All state lives under one folder, the station home: `--home DIR`, else `$STATION_HOME`, else
`/var/lib/station`. Inside it: `station.toml` (configuration), `operators.toml` (accounts,
written by `station operators`), `trust/` (public keys), `staging/` (verified copies of media
files), `store/` (the embedded OCI store) and `audit.log`.

Both TOML files are decoded in one pass against the typed model below (msgspec, strict: no
string is ever read as a boolean or a number, no unknown key passes, every number has its
range). A mistake is a `ConfigError` at start-up naming the file and the key; nothing else in
the station reads raw TOML. To add a section: one `Section` subclass here, one field on
`StationFile`, and its keys in docs/configuration.md.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Literal, TypeVar

import msgspec

from station.errors import StationError

DEFAULT_HOME = Path("/var/lib/station")
CONFIG_NAME = "station.toml"
OPERATORS_NAME = "operators.toml"
DOCS = "docs/configuration.md"
_Model = TypeVar("_Model")


def resolve_home(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The station home: the explicit argument, else `$STATION_HOME`, else the default."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("STATION_HOME")
    if env:
        return Path(env)
    return DEFAULT_HOME


class ConfigError(StationError):
    """A configuration file cannot be read or does not fit the model; names file and key."""


# -- value types ------------------------------------------------------------------------------

Positive = Annotated[int, msgspec.Meta(ge=1)]
NonNegative = Annotated[int, msgspec.Meta(ge=0)]
PositiveSeconds = Annotated[float, msgspec.Meta(gt=0)]
Text = Annotated[str, msgspec.Meta(min_length=1)]
Prefix = Annotated[str, msgspec.Meta(min_length=1, pattern=r"^\S+$")]
Prefixes = Annotated[tuple[Prefix, ...], msgspec.Meta(min_length=1)]
RoleName = Literal["operator", "verifier", "admin"]
Roles = Annotated[tuple[RoleName, ...], msgspec.Meta(min_length=1)]
Severity = Literal["LOW", "MEDIUM", "HIGH", "CRITICAL", "low", "medium", "high", "critical"]
OperatorName = Annotated[str, msgspec.Meta(pattern=r"^[a-z_][a-z0-9_.-]{0,31}$")]


class Instant:
    """A point in time given as a TOML date (midnight UTC), a TOML datetime (UTC when it has
    no offset) or the same as an ISO string; `at` is always timezone-aware."""

    __slots__ = ("at",)

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Instant) and other.at == self.at

    def __hash__(self) -> int:
        return hash(self.at)

    def __repr__(self) -> str:
        return f"Instant({self.at.isoformat()})"

    @classmethod
    def parse(cls, value: object) -> Instant:
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
            except ValueError:
                raise ValueError(f"{value!r} is not a date like 2027-01-01") from None
        if isinstance(value, datetime):
            return cls(value if value.tzinfo else value.replace(tzinfo=UTC))
        if isinstance(value, date):
            return cls(datetime(value.year, value.month, value.day, tzinfo=UTC))
        raise ValueError("expected a date like 2027-01-01")


def decode_hook(kind: type, value: object) -> object:
    if kind is Instant:
        return Instant.parse(value)
    raise NotImplementedError(f"no decoder for {kind}")


# -- sections of station.toml -----------------------------------------------------------------


class Section(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Base of every table: immutable, unknown keys refused, keys by name only. Subclasses
    repeat `frozen=True, kw_only=True` for mypy (msgspec inherits them anyway)."""


class Limits(Section, frozen=True, kw_only=True):
    """`[limits]`: size caps checked before any byte of a file is read."""

    max_manifest_bytes: Positive = 16 * 1024 * 1024
    max_file_bytes: Positive = 64 * 1024**3
    max_bundle_bytes: Positive = 256 * 1024**3
    max_files: Positive = 100_000
    max_archive_index_bytes: Positive = 64 * 1024 * 1024


class TrustSection(Section, frozen=True, kw_only=True):
    """`[trust]`: where the trusted public keys are (default `<home>/trust`)."""

    dir: Text | None = None


AbsolutePath = Annotated[str, msgspec.Meta(pattern=r"^/")]


class AuditSection(Section, frozen=True, kw_only=True):
    """`[audit]`: where records go besides the file; signed checkpoints (docs/audit.md)."""

    syslog: Literal["authpriv", "local0", "off"] = "authpriv"
    syslog_socket: AbsolutePath = "/dev/log"
    checkpoint_every: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] = 100
    signer_dir: AbsolutePath = "/var/lib/station-signer"


class MalwareSection(Section, frozen=True, kw_only=True):
    """`[malware]`: the ClamAV engine every transfer is scanned with (docs/malware.md).

    Without the table, malware scanning is off.
    """

    enabled: bool = True
    clamd: Text = "unix:///run/clamav/clamd.ctl"
    required: bool = False
    max_db_age_days: NonNegative | None = None
    timeout_seconds: PositiveSeconds = 30.0
    scan_timeout_seconds: PositiveSeconds = 300.0


class KeyRuleSection(Section, frozen=True, kw_only=True):
    """`[policy.keys.NAME]`: what the policy says about one trust-store key."""

    images: Prefixes | None = None
    expires: Instant | None = None
    revoked: bool = False


class ImageRuleSection(Section, frozen=True, kw_only=True):
    """`[policy.images."PREFIX"]`: the signatures images under a prefix must carry."""

    require_signature: tuple[Text, ...] = ()


class IdentitySection(Section, frozen=True, kw_only=True):
    """`[policy.identities.NAME]`: a keyless Sigstore signer, by its certificate."""

    issuer: Text
    subject: Text


class PolicySection(Section, frozen=True, kw_only=True):
    """`[policy]`: the site's rules beyond "a trusted key signed it" (docs/policy.md)."""

    required_signers: Positive = 1
    allowed_references: Prefixes | None = None
    max_bundle_bytes: Positive | None = None
    rollback_protection: bool = False
    max_severity: Severity | None = None
    max_db_age_days: NonNegative | None = None  # the station's own vulnerability scan
    keys: dict[Text, KeyRuleSection] = msgspec.field(default_factory=dict)
    images: dict[Prefix, ImageRuleSection] = msgspec.field(default_factory=dict)
    identities: dict[Text, IdentitySection] = msgspec.field(default_factory=dict)


class ApprovalSection(Section, frozen=True, kw_only=True):
    """`[approval]`: the two-person rule's settings."""

    expiry_seconds: PositiveSeconds = 900.0
    max_failures: Positive = 5
    first_roles: Roles = ("operator", "verifier", "admin")
    second_roles: Roles = ("verifier", "admin")
    allow_noninteractive: bool = False


class RetagRuleSection(Section, frozen=True, kw_only=True):
    """One `{from = "...", to = "..."}` rule: references starting with `from` are rewritten."""

    prefix: Prefix = msgspec.field(name="from")
    replacement: Prefix = msgspec.field(name="to")


class DockerTargetSection(Section, frozen=True, kw_only=True):
    """`[targets.docker]`: a Docker engine to import into."""

    url: Text | None = None  # default: the engine's own socket, unix:///var/run/docker.sock
    retag: tuple[RetagRuleSection, ...] = ()


class RegistryTargetSection(Section, frozen=True, kw_only=True):
    """`[targets.registry]`: a registry to push into; the kiosk offers it when `url` is set."""

    url: Text | None = None
    ca_file: Text | None = None
    username: Text | None = None
    password_file: Text | None = None
    insecure: bool = False
    retag: tuple[RetagRuleSection, ...] = ()

    def __post_init__(self) -> None:
        if (self.username is None) != (self.password_file is None):
            raise ValueError("username and password_file go together: set both or neither")


class TargetsSection(Section, frozen=True, kw_only=True):
    """`[targets.*]`: import targets besides the embedded store (always there)."""

    docker: DockerTargetSection | None = None
    registry: RegistryTargetSection | None = None


class StationFile(Section, frozen=True, kw_only=True):
    """`station.toml` as a whole; an absent file or table means its defaults."""

    limits: Limits = msgspec.field(default_factory=Limits)
    trust: TrustSection = msgspec.field(default_factory=TrustSection)
    audit: AuditSection = msgspec.field(default_factory=AuditSection)
    policy: PolicySection = msgspec.field(default_factory=PolicySection)
    approval: ApprovalSection = msgspec.field(default_factory=ApprovalSection)
    targets: TargetsSection = msgspec.field(default_factory=TargetsSection)
    malware: MalwareSection | None = None


# -- operators.toml ---------------------------------------------------------------------------


class OperatorEntry(Section, frozen=True, kw_only=True):
    """`[operators."NAME"]` in operators.toml (written by `station operators`)."""

    role: RoleName
    secret: Text
    enabled: bool = True
    failures: NonNegative = 0
    locked: bool = False
    created: str = ""


class OperatorsFile(Section, frozen=True, kw_only=True):
    """operators.toml as a whole."""

    operators: dict[OperatorName, OperatorEntry] = msgspec.field(default_factory=dict)


def decode_operators(text: str, path: Path) -> dict[str, OperatorEntry]:
    """The accounts in operators.toml text; a `ConfigError` naming the key when it is wrong."""
    return _decode(text.encode("utf-8"), OperatorsFile, path).operators


# -- loading ----------------------------------------------------------------------------------


def _decode(data: bytes, model: type[_Model], path: Path) -> _Model:
    try:
        return msgspec.toml.decode(data, type=model, dec_hook=decode_hook)
    except msgspec.ValidationError as exc:
        from station.config_messages import explain  # only when there is a mistake

        raise explain(str(exc), data, model, path) from None
    except msgspec.DecodeError as exc:
        raise ConfigError(
            f"{path} is not valid TOML: {exc}",
            hint="fix the file; the station does not start until it reads",
        ) from None


def read_toml(path: Path, model: type[_Model]) -> _Model:
    """One file decoded against its model; a missing file means every default."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return model()
    except OSError as exc:
        raise ConfigError(
            f"cannot read {path}: {exc.strerror or exc}",
            hint="check the file's owner and mode",
        ) from exc
    return _decode(data, model, path)


class StationConfig:
    """The station home and what `station.toml` says, with defaults for what it leaves out."""

    def __init__(self, home: Path, file: StationFile | None = None) -> None:
        self.home = home
        self.file = file if file is not None else StationFile()

    @classmethod
    def load(cls, home: str | os.PathLike[str] | None = None) -> StationConfig:
        """Read and check `station.toml` in the home; a missing file means all defaults."""
        root = resolve_home(home)
        return cls(root, read_toml(root / CONFIG_NAME, StationFile))

    # sections, typed
    @property
    def limits(self) -> Limits:
        return self.file.limits

    @property
    def policy(self) -> PolicySection:
        return self.file.policy

    @property
    def approval(self) -> ApprovalSection:
        return self.file.approval

    @property
    def audit(self) -> AuditSection:
        return self.file.audit

    @property
    def targets(self) -> TargetsSection:
        return self.file.targets

    @property
    def malware(self) -> MalwareSection | None:
        return self.file.malware

    # places in the home
    @property
    def config_path(self) -> Path:
        return self.home / CONFIG_NAME

    @property
    def operators_path(self) -> Path:
        return self.home / OPERATORS_NAME

    @property
    def trust_dir(self) -> Path:
        configured = self.file.trust.dir
        return Path(configured) if configured is not None else self.home / "trust"

    @property
    def staging_dir(self) -> Path:
        return self.home / "staging"

    @property
    def store_dir(self) -> Path:
        return self.home / "store"

    @property
    def audit_log(self) -> Path:
        return self.home / "audit.log"
