"""Everything one kiosk has, in one object: configuration, trust store, audit log,
operators and import targets. The CLI and the kiosk app both start from `Station.open`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil

from station import scratch
from station.approval import ApprovalBook, OperatorStore
from station.audit import AuditCheck, AuditLog
from station.bundle import Bundle
from station.config import StationConfig
from station.errors import StationError
from station.importing import ImportTarget, make_target
from station.installs import DatabaseInstaller
from station.lock import TransferLock, clean_staging, clean_staging_if_free
from station.malware.settings import MalwareSettings
from station.media.events import DeviceInfo
from station.verify.checks import StagedCheck
from station.verify.policy import Policy
from station.verify.trust import TrustedKey, TrustStore
from station.workflow import Transfer

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from station.signing import StationSigner


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
        signer: StationSigner | None = None,
        station_key: Ed25519PublicKey | None = None,
    ) -> None:
        self.config = config
        self.trust = trust
        self.audit = audit
        self.approvals = approvals
        self.policy = policy or Policy()
        # The station identity (issue 15): None when `station keys station-init` was not run.
        self.signer = signer
        self.station_key = station_key
        # What the content checks found, for a transfer's receipt (issues 14 and 16).
        self.scan_findings: Callable[[Transfer], Mapping[str, Any] | None] | None = (
            _check_summaries
        )

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
        leftovers, busy = clean_staging_if_free(config.home, config.staging_dir)
        leftovers += scratch.sweep(config.home)  # folders of a killed `station verify`
        leftovers += scratch.sweep_partials(config.home)  # half-delivered files of a kill
        signer, station_key, checkpointer = _identity(config)
        audit = AuditLog.from_config(config, checkpointer)
        # A crash (or a full disk) may have cut the log's last write: close it first, so
        # what was recovered is on record, and known to the kiosk and the CLI, before anything.
        recovered = audit.recover()
        in_use = {"staging_in_use_by": busy.describe()} if busy is not None else {}
        audit.append(
            "station-started",
            home=str(config.home),
            staging_cleaned=leftovers,
            audit_recovered=recovered["seq"] if recovered else None,
            station_key=_fingerprint(station_key),
            **in_use,
        )
        audit.checkpoint()  # with a station key: the log's extent, signed, from the start
        trust = TrustStore.load(config.trust_dir)
        approvals = ApprovalBook.from_config(config, audit=audit)
        approvals.operators.load()  # a mistake in operators.toml stops the start, named
        return cls(
            config, trust, audit, approvals, Policy.from_config(config),
            signer=signer, station_key=station_key,
        )

    @property
    def operators(self) -> OperatorStore:
        """The accounts file the approvals and the admin sign-in check against."""
        return self.approvals.operators

    def reload_trust(self) -> None:
        self.trust = TrustStore.load(self.config.trust_dir)

    def targets(self) -> list[ImportTarget]:
        """The configured targets: the embedded store always, and first; then the Docker
        engine and the registry when `[targets.docker]` / `[targets.registry]` name them."""
        targets = self.config.targets
        specs = ["store"]
        if targets.docker is not None:
            specs.append("docker")
        if targets.registry is not None and targets.registry.url is not None:
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

    def new_transfer(
        self,
        media_root: Path,
        device: DeviceInfo | None = None,
        *,
        command: str | None = None,
    ) -> Transfer:
        """A transfer for newly inserted media; any earlier approvals are forgotten.

        Takes the home's transfer lock first (station/lock.py) and keeps it until the
        transfer ends: `TransferBusy` (exit 2, naming the running transfer and since when)
        while another transfer, in this process or another, holds the home. `command`
        describes this one to whoever is refused (default: this process's command line).
        """
        lock = TransferLock.acquire(self.config.home, command=command)
        try:
            leftovers = clean_staging(self.config.staging_dir)  # the home is ours now
            if leftovers:
                self.audit.append("staging-cleaned", count=leftovers)
            return Transfer(
                media_root=media_root,
                config=self.config,
                trust=self.trust,
                audit=self.audit,
                approvals=self.approvals,
                policy=self.policy,
                on_imported=self._imported,
                device=device,
                home_lock=lock,
                on_finished=self._finished if self.signer is not None else None,
                checks=self.checks(),
                malware=MalwareSettings.from_config(self.config),
                installer=DatabaseInstaller(self.config, self.audit),
            )
        except BaseException:
            lock.release()
            raise

    def checks(self) -> list[StagedCheck]:
        """The content checks every transfer runs: the station's own vulnerability scan."""
        from station.scan.check import checks_for

        return checks_for(self.config)

    def _finished(self, transfer: Transfer) -> None:
        """Receipt hook (issue 15): the signed receipt and a checkpoint for every transfer."""
        from station.receipts import record_receipt

        assert self.signer is not None and self.station_key is not None  # noqa: S101
        findings = self.scan_findings(transfer) if self.scan_findings is not None else None
        record_receipt(
            transfer, signer=self.signer, public_key=self.station_key, audit=self.audit,
            home=self.config.home, findings=findings,
        )

    def _imported(self, bundle: Bundle) -> None:
        """Rollback protection: remember the channel's sequence just imported."""
        self.policy.record_import(bundle)


def _check_summaries(transfer: Transfer) -> Mapping[str, Any] | None:
    """The vulnerability and malware scans of a transfer, with the databases it installed."""
    found: dict[str, Any] = {}
    if transfer.verification is not None:
        found.update(transfer.verification.checks)
    if transfer.installed:
        found["installed"] = list(transfer.installed)
    return found or None


def _identity(
    config: StationConfig,
) -> tuple[StationSigner | None, Ed25519PublicKey | None, Any]:
    """The signer, public key and checkpointer when the home has `station.pub`, else Nones."""
    from station.signing import PUBLIC_NAME

    if not (config.home / PUBLIC_NAME).exists():
        return None, None, None
    from station.checkpoints import SignedCheckpoints, audit_settings
    from station.signing import load_public_key, make_signer

    settings = audit_settings(config)
    key = load_public_key(config.home / PUBLIC_NAME)
    signer = make_signer(config.home, settings.signer_dir)
    return signer, key, SignedCheckpoints(signer, settings.checkpoint_every)


def _fingerprint(key: Ed25519PublicKey | None) -> str | None:
    from station.signing import fingerprint

    return fingerprint(key) if key is not None else None


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
