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

Rollback protection compares a bundle.json's channel and sequence with the channel's mark
(`sequences.SequenceStore`); a bundle whose sequence is not greater is refused unless an admin
overrides (`override.py`), which is audited. Every rule returns `Finding`s (code + a message
naming the file, signer or image); an empty list means the policy passed. The table is
checked by the typed configuration model (`station.config.PolicySection`) at start-up.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from station.bundle import reports
from station.bundle.model import Bundle, Entry, Finding, Item, ItemKind
from station.bundle.safety import read_media_file
from station.config import KeyRuleSection, PolicySection, StationConfig
from station.errors import StationError
from station.references import normalise_prefix
from station.verify.image_policy import ImageSignaturePolicy
from station.verify.policy.override import override as audited_override
from station.verify.policy.sequences import SEQUENCE_NAME, SequenceStore

if TYPE_CHECKING:
    from station.approval import Operator
    from station.audit import AuditLog
    from station.verify.signatures import SignatureCheck
    from station.verify.staged import StagedBundle

MAX_REPORT_BYTES = 64 * 1024 * 1024
_IMAGE_KINDS = frozenset({ItemKind.IMAGE_ARCHIVE, ItemKind.OCI_LAYOUT})


@dataclass(frozen=True)
class KeyRule:
    """What the policy says about one trust-store key."""

    images: tuple[str, ...] | None = None
    expires: datetime | None = None
    revoked: bool = False

    @classmethod
    def from_section(cls, section: KeyRuleSection) -> KeyRule:
        expires = section.expires.at if section.expires is not None else None
        return cls(images=_normalised(section.images), expires=expires, revoked=section.revoked)


def _normalised(prefixes: tuple[str, ...] | None) -> tuple[str, ...] | None:
    """Policy prefixes written as references are shown (`demo/` is `docker.io/demo/`), so
    the same image named another way cannot slip past a rule."""
    return None if prefixes is None else tuple(normalise_prefix(p) for p in prefixes)


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
        """The station's `[policy]` (checked at load), with its home's rollback marks."""
        return cls.from_section(config.policy, SequenceStore(config.home / SEQUENCE_NAME))

    @classmethod
    def from_section(cls, section: PolicySection, sequences: SequenceStore | None) -> Policy:
        severity = section.max_severity
        return cls(
            required_signers=section.required_signers,
            allowed_references=_normalised(section.allowed_references),
            max_bundle_bytes=section.max_bundle_bytes,
            rollback_protection=section.rollback_protection,
            max_severity=severity.upper() if severity is not None else None,
            keys={name: KeyRule.from_section(rule) for name, rule in section.keys.items()},
            sequences=sequences,
            images=ImageSignaturePolicy.from_sections(section.images, section.identities,
                                                      "[policy]"),
        )

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
        """Raise the channel's rollback mark once the bundle is imported (never lowers it).

        Raises `SequenceWriteFailed` when the mark cannot be saved; the images have landed.
        """
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
        """`override.override`: drop rollback findings on an admin's word, audited first."""
        return audited_override(findings, admin=admin, reason=reason, digest=digest, audit=audit)


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
