"""The site's rules beyond "a trusted key signed it", read from `[policy]` in station.toml.

    [policy]
    required_signers = 2                      # distinct trusted signers (default 1)
    allowed_references = ["registry.example.org/ops/"]
    max_bundle_bytes = 53687091200
    rollback_protection = true                # channel + sequence must grow
    max_severity = "HIGH"                     # refuse scan findings at or above this

    [policy.keys.release-bot]                 # a trust-store key name
    images = ["registry.example.org/ops/"]    # what this signer may sign
    expires = 2027-01-01                      # not valid from this day on (UTC)
    revoked = true

A signature counts towards `required_signers` only if it is valid, by a key that is neither
revoked nor expired, and whose `images` prefixes (when given) cover every image reference in
the bundle. A valid signature by a revoked key refuses the bundle outright. Prefixes match at
a boundary: `registry.example.org/ops/` or `registry.example.org/ops` accept
`registry.example.org/ops/api:1`, never `registry.example.org/opsevil/x`.

Rollback protection keeps the last imported sequence per channel in `<home>/sequence.json`;
a bundle whose sequence is not greater is refused unless an admin overrides, which is audited.
Every rule returns `Finding`s (code + a message naming the file, signer or image); an empty
list means the policy passed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from station.approval import Operator, Role
from station.atomic import replace_file
from station.bundle import reports
from station.bundle.model import Bundle, Entry, Finding, Item, ItemKind
from station.bundle.safety import read_media_file
from station.config import StationConfig
from station.errors import StationError
from station.references import normalise_prefix
from station.verify.image_policy import ImageSignaturePolicy

if TYPE_CHECKING:
    from station.audit import AuditLog
    from station.verify.signatures import SignatureCheck
    from station.verify.staged import StagedBundle

SEQUENCE_NAME = "sequence.json"
MAX_REPORT_BYTES = 64 * 1024 * 1024
OVERRIDABLE = frozenset({"rollback", "rollback-unknown"})
_TOP_KEYS = frozenset(
    {
        "required_signers",
        "allowed_references",
        "max_bundle_bytes",
        "rollback_protection",
        "max_severity",
        "max_db_age_days",  # read by station.scan.policy.ScanPolicy
        "keys",
        "images",  # image signature rules: station.verify.image_policy
        "identities",
    }
)
_KEY_KEYS = frozenset({"images", "expires", "revoked"})
_IMAGE_KINDS = frozenset({ItemKind.IMAGE_ARCHIVE, ItemKind.OCI_LAYOUT})


@dataclass(frozen=True)
class KeyRule:
    """What the policy says about one trust-store key."""

    images: tuple[str, ...] | None = None
    expires: datetime | None = None
    revoked: bool = False


def matches_prefix(reference: str, prefix: str) -> bool:
    """`reference` starts with `prefix` at a name boundary (`/`, `:` or `@`)."""
    if reference == prefix:
        return True
    if not reference.startswith(prefix):
        return False
    return prefix.endswith(("/", ":", "@")) or reference[len(prefix)] in "/:@"


def bundle_references(items: Iterable[Item]) -> list[str]:
    """Every image reference the bundle declares or its archives carry, in order, once."""
    seen: dict[str, None] = {}
    for item in items:
        for reference in item.references:
            seen.setdefault(reference, None)
        for image in item.images:
            for reference in image.references:
                seen.setdefault(reference, None)
    return list(seen)


class SequenceStore:
    """`<home>/sequence.json`: the last imported sequence per channel, written atomically."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def load(self) -> dict[str, int]:
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise StationError(
                f"cannot read the imported sequences {self.path}: {exc}",
                hint="restore it from a backup; rollback protection cannot work without it",
            ) from exc
        channels = doc.get("channels") if isinstance(doc, dict) else None
        if not isinstance(channels, dict):
            raise StationError(f"{self.path}: no 'channels' object; the file is damaged")
        result = {}
        for channel, entry in channels.items():
            sequence = entry.get("sequence") if isinstance(entry, dict) else None
            if not isinstance(sequence, int) or isinstance(sequence, bool):
                raise StationError(f"{self.path}: channel {channel!r} has no integer sequence")
            result[channel] = sequence
        return result

    def record(self, channel: str, sequence: int, digest: str) -> None:
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            doc = {"channels": {}}
        except (OSError, ValueError) as exc:
            raise StationError(f"cannot read the imported sequences {self.path}: {exc}") from exc
        doc.setdefault("channels", {})[channel] = {
            "sequence": sequence,
            "digest": digest,
            "time": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # The rename must survive a power cut, or an old bundle could be replayed once.
            data = json.dumps(doc, indent=2, sort_keys=True).encode("utf-8")
            replace_file(self.path, data, mode=0o644)
        except OSError as exc:
            raise StationError(f"cannot write the imported sequences {self.path}: {exc}") from exc


@dataclass(frozen=True)
class Policy:
    """The parsed `[policy]` table. `Policy()` is the default: one trusted signer."""

    required_signers: int = 1
    allowed_references: tuple[str, ...] | None = None
    max_bundle_bytes: int | None = None
    rollback_protection: bool = False
    max_severity: str | None = None
    keys: Mapping[str, KeyRule] = field(default_factory=dict)
    sequences: SequenceStore | None = None
    images: ImageSignaturePolicy = field(default_factory=ImageSignaturePolicy)

    @classmethod
    def from_config(cls, config: StationConfig) -> Policy:
        """Parse `[policy]`; anything unknown or of the wrong type is a StationError."""
        where = f"{config.config_path}: [policy]"
        return _parse(config.table("policy"), where, SequenceStore(config.home / SEQUENCE_NAME))

    # -- evaluation ---------------------------------------------------------------------

    def evaluate(
        self,
        bundle: Bundle,
        signatures: Sequence[SignatureCheck],
        *,
        now: datetime,
        last_sequences: Mapping[str, int] | None = None,
        sizes: Mapping[str, int] | None = None,
    ) -> list[Finding]:
        """Every rule over the bundle's manifest, items and signature checks.

        `last_sequences` defaults to what `sequence.json` holds; `sizes` are the sizes found
        while hashing (for manifests that do not declare sizes, like SHA256SUMS).
        """
        references = bundle_references(bundle.items)
        findings = self._signer_findings(signatures, references, now)
        findings += self._reference_findings(references)
        findings += self._size_findings(bundle.entries, sizes)
        findings += self._rollback_findings(bundle, last_sequences)
        return findings

    def check(self, bundle: Bundle, signatures: Sequence[SignatureCheck]) -> list[Finding]:
        """`verification.PolicyCheck`: evaluate now, against the stored sequences."""
        return self.evaluate(bundle, signatures, now=datetime.now(UTC))

    def evaluate_reports(
        self, items: Iterable[Item], read: Callable[[str], bytes], *, now: datetime
    ) -> list[Finding]:
        """The scan-report rule, over verified bytes: `read(path)` reads the staged copy.

        Without `max_severity` only unreadable reports are findings. With it, a bundle that
        carries images must carry a scan report, and its findings at or above the severity
        must each be named by a waiver.
        """
        items = list(items)
        documents, findings = reports.read_documents(items, read)
        if self.max_severity is None:
            return findings
        has_images = any(item.kind in _IMAGE_KINDS or item.images for item in items)
        return findings + reports.severity_findings(
            documents, self.max_severity, now=now, require_report=has_images
        )

    def evaluate_staged(
        self,
        staged: StagedBundle,
        signatures: Sequence[SignatureCheck],
        *,
        now: datetime,
        sizes: Mapping[str, int] | None = None,
        max_report_bytes: int = MAX_REPORT_BYTES,
    ) -> list[Finding]:
        """The rules that depend on file contents, over the verified copy in staging.

        `evaluate` before hashing sees image tags read from the media, which a hostile
        stick may change between reads, and no sizes for a SHA256SUMS bundle; this runs the
        signer-scope, reference and size rules again on the staged copy, and the scan-report
        rule on the staged reports. `sizes` are the byte counts hashing read (so nothing is
        stat'ed again); without them the staged copies' sizes are used.
        """

        files_root = staged.files_root or staged.root
        assert files_root is not None  # noqa: S101 - a staged bundle knows where its files are

        def read(path: str) -> bytes:
            return read_media_file(files_root, path, max_size=max_report_bytes)

        references = bundle_references(staged.items)
        findings = self._signer_findings(signatures, references, now)
        findings += self._reference_findings(references)
        entries = [entry for item in staged.items for entry in item.entries]
        found = sizes if sizes is not None else _staged_sizes(files_root, entries)
        findings += self._size_findings(entries, found)
        findings += self.images.findings(staged)
        return findings + self.evaluate_reports(staged.items, read, now=now)

    def _signer_findings(
        self, signatures: Sequence[SignatureCheck], references: list[str], now: datetime
    ) -> list[Finding]:
        findings: list[Finding] = []
        counted: set[str] = set()
        excluded: list[str] = []
        for check in signatures:
            if not check.valid or check.signer is None:
                continue
            rule = self.keys.get(check.signer, KeyRule())
            if rule.revoked:
                findings.append(
                    Finding(
                        "key-revoked",
                        f"{check.file} is signed by {check.signer}, whose key the policy marks "
                        "as revoked",
                        check.file,
                    )
                )
                excluded.append(f"{check.signer} (revoked)")
                continue
            if rule.expires is not None and now >= rule.expires:
                excluded.append(f"{check.signer} (key expired {rule.expires.date().isoformat()})")
                continue
            if rule.images is not None:
                outside = [
                    r for r in references if not any(matches_prefix(r, p) for p in rule.images)
                ]
                if outside:
                    excluded.append(
                        f"{check.signer} (may not sign {outside[0]}; allowed: "
                        f"{', '.join(rule.images)})"
                    )
                    continue
            counted.add(check.signer)
        if len(counted) < self.required_signers:
            message = (
                f"the policy needs {self.required_signers} distinct trusted signer(s); "
                f"{len(counted)} counted"
            )
            if counted:
                message += f" ({', '.join(sorted(counted))})"
            if excluded:
                message += f"; not counted: {'; '.join(excluded)}"
            findings.append(Finding("not-enough-signers", message))
        return findings

    def _reference_findings(self, references: list[str]) -> list[Finding]:
        if self.allowed_references is None:
            return []
        allowed = ", ".join(self.allowed_references)
        return [
            Finding(
                "reference-not-allowed",
                f"image {reference} is not under an allowed reference ({allowed})",
            )
            for reference in references
            if not any(matches_prefix(reference, p) for p in self.allowed_references)
        ]

    def _size_findings(
        self, entries: Iterable[Entry], sizes: Mapping[str, int] | None
    ) -> list[Finding]:
        if self.max_bundle_bytes is None:
            return []
        found = sizes or {}
        total = sum(found.get(e.path, e.size or 0) for e in entries)
        if total <= self.max_bundle_bytes:
            return []
        return [
            Finding(
                "bundle-too-large",
                f"the bundle holds {total} bytes; the policy allows {self.max_bundle_bytes}",
            )
        ]

    def _rollback_findings(
        self, bundle: Bundle, last_sequences: Mapping[str, int] | None
    ) -> list[Finding]:
        if not self.rollback_protection:
            return []
        if bundle.info is None:
            return [
                Finding(
                    "rollback-unknown",
                    f"{bundle.manifest_name} has no channel and sequence; rollback protection "
                    "needs a bundle.json manifest",
                    bundle.manifest_name,
                )
            ]
        if last_sequences is None:
            last_sequences = self.sequences.load() if self.sequences else {}
        channel, sequence = bundle.info.channel, bundle.info.sequence
        last = last_sequences.get(channel)
        if last is not None and sequence <= last:
            return [
                Finding(
                    "rollback",
                    f"{bundle.manifest_name}: channel {channel!r} sequence {sequence} is not "
                    f"newer than the last imported ({last}); an older or replayed bundle",
                    bundle.manifest_name,
                )
            ]
        return []

    # -- after import, and overrides ----------------------------------------------------

    def record_import(self, bundle: Bundle) -> None:
        """Remember the channel's sequence once the bundle is imported."""
        if bundle.info is None or self.sequences is None:
            return
        self.sequences.record(bundle.info.channel, bundle.info.sequence, bundle.digest)

    def override(
        self,
        findings: Sequence[Finding],
        *,
        admin: Operator,
        reason: str,
        digest: str,
        audit: AuditLog,
    ) -> list[Finding]:
        """Drop rollback findings on an admin's word, audited first; others stay.

        `admin` must be an authenticated account with the admin role (the caller checked
        the PIN through `OperatorStore.authenticate`).
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


def _staged_sizes(root: Path, entries: Iterable[Entry]) -> dict[str, int]:
    """Sizes of the staged copies where the manifest did not declare them."""
    sizes = {}
    for entry in entries:
        if entry.size is None:
            try:
                sizes[entry.path] = os.lstat(root / entry.path).st_size
            except OSError as exc:
                raise StationError(f"staged copy of {entry.path} is missing: {exc}") from exc
    return sizes


# -- parsing --------------------------------------------------------------------------------


def _parse(table: dict[str, Any], where: str, sequences: SequenceStore | None) -> Policy:
    unknown = set(table) - _TOP_KEYS
    if unknown:
        raise StationError(
            f"{where}: unknown keys {', '.join(sorted(unknown))}",
            hint=f"known keys: {', '.join(sorted(_TOP_KEYS))}",
        )
    required = table.get("required_signers", 1)
    if isinstance(required, bool) or not isinstance(required, int) or required < 1:
        raise StationError(f"{where} required_signers must be an integer of 1 or more")
    max_bytes = table.get("max_bundle_bytes")
    if max_bytes is not None and (
        isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1
    ):
        raise StationError(f"{where} max_bundle_bytes must be a positive integer")
    rollback = table.get("rollback_protection", False)
    if not isinstance(rollback, bool):
        raise StationError(f"{where} rollback_protection must be true or false")
    severity = table.get("max_severity")
    if severity is not None and (
        not isinstance(severity, str) or severity.upper() not in reports.SEVERITIES[1:]
    ):
        raise StationError(
            f"{where} max_severity = {severity!r} is not a severity",
            hint="use LOW, MEDIUM, HIGH or CRITICAL",
        )
    keys_table = table.get("keys", {})
    if not isinstance(keys_table, dict):
        raise StationError(f"{where} keys must be a table of [policy.keys.NAME] tables")
    key_where = where.removesuffix("]") + ".keys.{}]"
    return Policy(
        required_signers=required,
        allowed_references=_prefixes(
            table.get("allowed_references"), f"{where} allowed_references"
        ),
        max_bundle_bytes=max_bytes,
        rollback_protection=rollback,
        max_severity=severity.upper() if isinstance(severity, str) else None,
        keys={name: _key_rule(rule, key_where.format(name)) for name, rule in keys_table.items()},
        sequences=sequences,
        images=ImageSignaturePolicy.from_tables(table.get("images"), table.get("identities"),
                                                where.removesuffix("]")),
    )


def _prefixes(value: Any, where: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value:
        raise StationError(f"{where} must be a non-empty list of reference prefixes")
    if not all(isinstance(p, str) and p.strip() == p and p for p in value):
        raise StationError(f"{where} must hold non-empty strings without spaces")
    return tuple(normalise_prefix(p) for p in value)


def _key_rule(rule: Any, where: str) -> KeyRule:
    if not isinstance(rule, dict):
        raise StationError(f"{where} must be a table")
    unknown = set(rule) - _KEY_KEYS
    if unknown:
        raise StationError(
            f"{where}: unknown keys {', '.join(sorted(unknown))}",
            hint=f"known keys: {', '.join(sorted(_KEY_KEYS))}",
        )
    revoked = rule.get("revoked", False)
    if not isinstance(revoked, bool):
        raise StationError(f"{where} revoked must be true or false")
    return KeyRule(
        images=_prefixes(rule.get("images"), f"{where} images"),
        expires=_instant(rule.get("expires"), f"{where} expires"),
        revoked=revoked,
    )


def _instant(value: Any, where: str) -> datetime | None:
    """A TOML date (start of that day, UTC), datetime, or the same as an ISO string."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
        except ValueError as exc:
            raise StationError(f"{where} = {value!r} is not a date") from exc
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    raise StationError(f"{where} must be a date like 2027-01-01")
