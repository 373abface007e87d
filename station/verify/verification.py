"""One verdict for a bundle: signatures over the manifest, every listed file, the policy.

Fails closed: the verdict is `accepted` only when there is no problem at all: at least one
valid signature by a trusted key, no bad signature, every listed file present, safe, of the
declared size and matching its digest, and no policy finding. Everything found is reported,
not only the first reason, so operators see the whole picture at once.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from station.bundle.contents import read_images
from station.bundle.model import Bundle, Finding, Item
from station.config import Limits
from station.progress import ProgressCallback
from station.verify.hashing import HashResult, StagingError, hash_entries
from station.verify.signatures import SignatureCheck, check_signatures
from station.verify.trust import TrustStore

if TYPE_CHECKING:
    from station.importing.base import StagedBundle

ACCEPTED = "accepted"
REJECTED = "rejected"


class PolicyRules(Protocol):
    """Rules beyond "a trusted key signed it" (`station.verify.policy.Policy` is one).

    `check` runs on the manifest before any file is hashed; `evaluate_staged` runs on the
    verified bytes (image tags read from staging, scan reports), so a stick that changes
    between reads cannot slip past a rule.
    """

    def check(self, bundle: Bundle, signatures: Sequence[SignatureCheck]) -> list[Finding]: ...

    def evaluate_staged(
        self,
        staged: StagedBundle,
        signatures: Sequence[SignatureCheck],
        *,
        now: datetime,
        sizes: Mapping[str, int] | None = None,
    ) -> list[Finding]: ...


@dataclass(frozen=True)
class ItemResult:
    """One listed file after hashing. `sha256` is what was found, `expected_sha256` listed."""

    path: str
    size: int | None
    sha256: str | None
    expected_sha256: str
    ok: bool
    problem: str | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "path": self.path,
            "size": self.size,
            "sha256": self.sha256,
            "expected_sha256": self.expected_sha256,
            "ok": self.ok,
            "problem": self.problem,
        }


@dataclass(frozen=True)
class Verification:
    """The verdict with every reason; `staged` holds the verified copies when accepted."""

    bundle_digest: str
    signatures: tuple[SignatureCheck, ...]
    items: tuple[ItemResult, ...]
    problems: tuple[Finding, ...]
    warnings: tuple[Finding, ...]
    staged: StagedBundle | None = None
    id: str = field(default_factory=lambda: os.urandom(16).hex())

    @property
    def accepted(self) -> bool:
        return not self.problems

    @property
    def verdict(self) -> str:
        return ACCEPTED if self.accepted else REJECTED

    @property
    def signers(self) -> tuple[str, ...]:
        return tuple(sorted({s.signer for s in self.signatures if s.valid and s.signer}))

    def to_json(self) -> dict[str, object]:
        return {
            "verdict": self.verdict,
            "bundle_digest": self.bundle_digest,
            "verification_id": self.id,
            "signatures": [s.to_json() for s in self.signatures],
            "items": [i.to_json() for i in self.items],
            "problems": [p.to_json() for p in self.problems],
            "warnings": [w.to_json() for w in self.warnings],
        }


def signature_findings(
    bundle: Bundle, checks: Sequence[SignatureCheck]
) -> tuple[list[Finding], list[Finding]]:
    """Problems and warnings from the signature checks alone."""
    problems: list[Finding] = []
    warnings: list[Finding] = []
    if not checks:
        problems.append(
            Finding(
                "unsigned",
                f"{bundle.manifest_name} is not signed: no {bundle.manifest_name}.minisig, "
                ".asc, .gpg or .sig beside it",
                bundle.manifest_name,
            )
        )
        return problems, warnings
    trusted_valid = any(check.valid for check in checks)
    for check in checks:
        if check.valid:
            continue
        if check.signer is not None:
            problems.append(Finding("bad-signature", f"{check.file}: {check.reason}", check.file))
        elif trusted_valid:
            warnings.append(
                Finding("untrusted-signature", f"{check.file}: {check.reason}", check.file)
            )
        else:
            problems.append(
                Finding("untrusted-signature", f"{check.file}: {check.reason}", check.file)
            )
    if not trusted_valid and not problems:
        problems.append(Finding("untrusted-signature", "no valid signature by a trusted key"))
    return problems, warnings


def _check_free_space(staging: Path, needed: int) -> None:
    import psutil  # only when staging; `station verify` starts faster without it

    free = psutil.disk_usage(str(staging)).free
    if needed > free:
        raise StagingError(
            f"staging needs {needed} bytes but only {free} are free in {staging}",
            hint="free space on the station (old transfers are cleaned at start-up), "
            "then verify again",
        )


def _item_results(results: Sequence[HashResult]) -> list[ItemResult]:
    return [
        ItemResult(
            path=r.entry.path,
            size=r.size,
            sha256=r.sha256,
            expected_sha256=r.entry.sha256,
            ok=r.ok,
            problem=r.problem.message if r.problem else None,
        )
        for r in results
    ]


def verify_bundle(
    bundle: Bundle,
    trust: TrustStore,
    *,
    limits: Limits | None = None,
    staging_root: Path | None = None,
    policy: PolicyRules | None = None,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> Verification:
    """Check signatures, hash every listed file (copying into staging), apply the policy.

    With `staging_root`, the files are copied into `staging_root/<digest hex>/` while they
    are hashed; when the verdict is accepted the result's `staged` describes that copy, read
    back from staging (never from the media). On rejection or failure nothing stays staged.
    """
    limits = limits or Limits()
    checks = tuple(check_signatures(bundle.manifest, bundle.signatures, trust))
    sig_problems, sig_warnings = signature_findings(bundle, checks)
    problems = [*bundle.problems, *sig_problems]
    warnings = [*bundle.warnings, *sig_warnings]
    if policy is not None:
        problems.extend(policy.check(bundle, checks))

    staging: Path | None = None
    if staging_root is not None and not problems:
        staging = staging_root / bundle.digest.removeprefix("sha256:")
        if staging.exists():
            shutil.rmtree(staging)
        staging.mkdir(parents=True, mode=0o700)
        _check_free_space(staging, bundle.declared_size)
    try:
        results = hash_entries(
            bundle.root,
            bundle.entries,
            max_file_bytes=limits.max_file_bytes,
            staging=staging,
            on_progress=on_progress,
            cancel=cancel,
        )
        problems.extend(r.problem for r in results if r.problem is not None)
        staged = None
        if staging is not None and not problems:
            staged = _describe_staged(bundle, staging, limits, problems)
        if policy is not None and not problems:
            # Without staging (`station verify`), the rules read the media itself: same
            # verdict, but only an import from staging is protected from a changing stick.
            verified = staged or _media_as_staged(bundle.digest, bundle.root, bundle.items)
            read_sizes = {r.entry.path: r.size for r in results if r.size is not None}
            problems.extend(
                policy.evaluate_staged(verified, checks, now=datetime.now(UTC), sizes=read_sizes)
            )
            if problems:
                staged = None
    except BaseException:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        raise
    if staging is not None and staged is None:
        shutil.rmtree(staging, ignore_errors=True)
    return Verification(
        bundle_digest=bundle.digest,
        signatures=checks,
        items=tuple(_item_results(results)),
        problems=tuple(problems),
        warnings=tuple(warnings),
        staged=staged,
    )


def _media_as_staged(digest: str, root: Path, items: tuple[Item, ...]) -> StagedBundle:
    from station.importing.base import StagedBundle

    return StagedBundle(digest=digest, root=root, items=items)


def _describe_staged(
    bundle: Bundle, staging: Path, limits: Limits, problems: list[Finding]
) -> StagedBundle | None:
    """The staged copy with its images read again from the verified bytes."""
    from station.importing.base import StagedBundle

    items, image_problems = read_images(
        staging, [replace(item, images=()) for item in bundle.items], limits, declared=True
    )
    if image_problems:
        problems.extend(image_problems)
        return None
    return StagedBundle(digest=bundle.digest, root=staging, items=tuple(items))
