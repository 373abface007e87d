"""Everything one kiosk has, in one object: configuration, trust store, audit log,
operators and import targets. The CLI and the kiosk app both start from `Station.open`.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from station.approval import ApprovalBook, OperatorStore
from station.audit import AuditCheck, AuditLog
from station.bundle import Bundle
from station.config import StationConfig
from station.errors import StationError
from station.importing import ImportTarget, make_target
from station.media.events import DeviceInfo
from station.verify.policy import Policy
from station.verify.trust import TrustedKey, TrustStore
from station.workflow import Transfer


@dataclass(frozen=True)
class TargetStatus:
    name: str
    description: str
    problem: str | None  # None when reachable


@dataclass(frozen=True)
class PastTransfer:
    """One finished transfer for the waiting screen; `bundle` is its name when it had one."""

    time: str
    digest: str
    outcome: str
    detail: str
    bundle: str | None = None


@dataclass(frozen=True)
class PastImport:
    """An earlier import of a bundle, found in the audit log: when (UTC), where, who approved."""

    time: str
    target: str
    transfer: str
    approvers: tuple[str, ...]
    bundle: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"time": self.time, "target": self.target, "transfer": self.transfer,
                "approvers": list(self.approvers), "bundle": self.bundle}


@dataclass(frozen=True)
class StationStatus:
    """What the waiting screen shows: is this station ready to take a transfer?"""

    staging_free: int
    store_free: int
    keys: tuple[TrustedKey, ...]
    key_problems: tuple[str, ...]
    targets: tuple[TargetStatus, ...]
    audit: AuditCheck
    recent: tuple[PastTransfer, ...]


def _free_bytes(folder: Path) -> int:
    try:
        return int(psutil.disk_usage(str(folder)).free)
    except OSError:
        return 0


class Station:
    """One station home, opened: staging cleaned, trust store loaded, audit log ready."""

    def __init__(
        self,
        config: StationConfig,
        trust: TrustStore,
        audit: AuditLog,
        approvals: ApprovalBook,
        policy: Policy | None = None,
    ) -> None:
        self.config = config
        self.trust = trust
        self.audit = audit
        self.approvals = approvals
        self.policy = policy or Policy()

    @classmethod
    def open(cls, home: str | Path | None = None) -> Station:
        """Load the station at `home`; leftovers of a crashed transfer are removed first."""
        config = StationConfig.load(home)
        try:
            config.home.mkdir(parents=True, exist_ok=True)
            for folder in (config.trust_dir, config.staging_dir, config.store_dir):
                folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StationError(
                f"cannot prepare the station home {config.home}: {exc.strerror or exc}",
                hint="run as the station user, or pass --home DIR",
            ) from exc
        leftovers = clean_staging(config.staging_dir)
        audit = AuditLog.from_config(config)
        audit.append("station-started", home=str(config.home), staging_cleaned=leftovers)
        trust = TrustStore.load(config.trust_dir)
        approvals = ApprovalBook.from_config(config, audit=audit)
        return cls(config, trust, audit, approvals, Policy.from_config(config))

    @property
    def operators(self) -> OperatorStore:
        """The accounts file the approvals and the admin sign-in check against."""
        return self.approvals.operators

    def reload_trust(self) -> None:
        self.trust = TrustStore.load(self.config.trust_dir)

    def targets(self) -> list[ImportTarget]:
        """The configured targets: the embedded store always, and first; then the Docker
        engine and the registry when `[targets.docker]` / `[targets.registry]` name them."""
        table = self.config.table("targets")
        specs = ["store"]
        if isinstance(table.get("docker"), dict):
            specs.append("docker")
        registry = table.get("registry")
        if isinstance(registry, dict) and "url" in registry:
            specs.append("registry")
        return [make_target(spec, self.config) for spec in specs]

    def status(self) -> StationStatus:
        """Free space, keys, targets and audit health; slow (pings targets): call in a worker."""
        targets = tuple(TargetStatus(t.name, t.describe(), t.check()) for t in self.targets())
        return StationStatus(
            staging_free=_free_bytes(self.config.staging_dir),
            store_free=_free_bytes(self.config.store_dir),
            keys=self.trust.keys,
            key_problems=tuple(p.message for p in self.trust.problems),
            targets=targets,
            audit=self.audit.verify(),
            recent=tuple(_past_transfers(self.audit.records())[-5:][::-1]),
        )

    def previous_imports(self, bundle_digest: str) -> tuple[PastImport, ...]:
        """Every earlier import of this bundle digest, oldest first, from one read of the
        audit log: when, into which target, and the last two approvers of the verification
        that led to it (the kiosk asks for a confirmation before importing it again)."""
        name: str | None = None
        verification_of: dict[str, str] = {}  # transfer id -> its latest verification id
        approvers: dict[str, list[str]] = {}  # verification id -> approvers, in order
        found: list[PastImport] = []
        for record in self.audit.records():
            event, transfer = record.get("event"), str(record.get("transfer"))
            if record.get("digest") != bundle_digest:
                continue
            if event == "bundle-opened" and record.get("name"):
                name = str(record["name"])
            elif event == "verification":
                verification_of[transfer] = str(record.get("verification"))
            elif event == "approval":
                approvers.setdefault(str(record.get("verification")), []).append(
                    str(record.get("actor")))
            elif event == "import-done":
                names = approvers.get(verification_of.get(transfer, ""), [])[-2:]
                found.append(PastImport(str(record.get("time")), str(record.get("target")),
                                        transfer, tuple(names), name))
        return tuple(found)

    def new_transfer(self, media_root: Path, device: DeviceInfo | None = None) -> Transfer:
        """A transfer for newly inserted media; any earlier approvals are forgotten."""
        return Transfer(
            media_root=media_root,
            config=self.config,
            trust=self.trust,
            audit=self.audit,
            approvals=self.approvals,
            policy=self.policy,
            on_imported=self._imported,
            device=device,
        )

    def _imported(self, bundle: Bundle) -> None:
        """Rollback protection: remember the channel's sequence just imported."""
        self.policy.record_import(bundle)


def _past_transfers(records: Iterable[dict[str, Any]]) -> list[PastTransfer]:
    """Imports, rejections and aborts in log order, each with its bundle's name if known."""
    names: dict[str, str] = {}
    past: list[PastTransfer] = []
    for record in records:
        event, digest = record.get("event"), str(record.get("digest"))
        outcome = detail = None
        if event == "bundle-opened" and record.get("name"):
            names[digest] = str(record["name"])
        elif event == "import-done":
            outcome, detail = "imported", str(record.get("target"))
        elif event == "verification" and record.get("verdict") == "rejected":
            outcome, detail = "rejected", "; ".join(record.get("problems", [])[:1])
        elif event == "abort":
            outcome, detail = "aborted", str(record.get("reason"))
        if outcome is not None and detail is not None:
            past.append(PastTransfer(record["time"], digest, outcome, detail, names.get(digest)))
    return past


def clean_staging(staging: Path) -> int:
    """Remove every leftover transfer folder in staging; returns how many there were."""
    count = 0
    if staging.is_dir():
        for child in staging.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)
            count += 1
    return count
