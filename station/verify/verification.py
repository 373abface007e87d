"""One verdict for a bundle: signatures over the manifest, every listed file, the policy.

Fails closed: the verdict is `accepted` only when there is no problem at all: at least one
valid signature by a trusted key, no bad signature, every listed file present, safe, of the
declared size and matching its digest, every image readable and consistent (each layer's
content matching its config's diff_id, names agreeing with the signed manifest), and no
policy finding. Everything found is reported, not only the first reason, so operators see
the whole picture at once.

The policy is a required argument: `station verify` and an import give the same verdict.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from station.bundle.describe import image_to_json
from station.bundle.members import ByteBudget
from station.bundle.model import Bundle, Finding, ImageInfo, Item, ItemKind
from station.config import Limits
from station.errors import MediaError
from station.progress import ProgressCallback
from station.verify.blobstore import SPACE_MARGIN, BlobStore, SpaceBudget, StagingError
from station.verify.checks import StagedCheck
from station.verify.hashing import (
    HashResult,
    Role,
    StagingArea,
    Task,
    hash_entries,
    planned_size,
)
from station.verify.image_signatures import (
    ImageSignatureCheck,
    check_attached,
    signature_warnings,
    stage_signatures,
)
from station.verify.packages import hash_package
from station.verify.signatures import SignatureCheck, check_signatures
from station.verify.staged import (
    StagedBundle,
    prune_blobs,
    read_verified_images,
    stage_images,
    staged_files,
    write_layout,
)
from station.verify.trust import TrustStore

if TYPE_CHECKING:
    from station.malware.settings import MalwareSettings
    from station.verify.malware_tap import MalwareTap

ACCEPTED = "accepted"
REJECTED = "rejected"


class PolicyRules(Protocol):
    """Rules beyond "a trusted key signed it" (`station.verify.policy.Policy` is one).

    `check` runs on the manifest before any file is hashed; `evaluate_staged` runs on the
    verified bytes (image names read from what was hashed, scan reports), so a stick that
    changes between reads cannot slip past a rule.
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
    """The verdict with every reason; `staged` holds the verified copy when accepted and
    staged; `images` are the images as read from the verified bytes, with their names."""

    bundle_digest: str
    signatures: tuple[SignatureCheck, ...]
    items: tuple[ItemResult, ...]
    problems: tuple[Finding, ...]
    warnings: tuple[Finding, ...]
    staged: StagedBundle | None = None
    images: tuple[ImageInfo, ...] = ()
    checks: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    id: str = field(default_factory=lambda: os.urandom(16).hex())
    image_signatures: tuple[ImageSignatureCheck, ...] = ()

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
            "images": [image_to_json(image) for image in self.images],
            "checks": {name: dict(found) for name, found in self.checks.items()},
            "image_signatures": [check.to_json() for check in self.image_signatures],
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


def plan_tasks(items: Sequence[Item]) -> list[Task]:
    """What each listed file is read for (see `hashing.Role`)."""
    tasks: list[Task] = []
    for item in items:
        if item.kind is ItemKind.IMAGE_ARCHIVE:
            tasks.extend(Task(entry, Role.ARCHIVE) for entry in item.entries)
        elif item.kind is ItemKind.OCI_LAYOUT:
            prefix = "" if item.path == "." else f"{item.path}/"
            tasks.extend(Task(entry, Role.LAYOUT, entry.path.removeprefix(prefix))
                         for entry in item.entries)
        else:
            tasks.extend(Task(entry, Role.FILE) for entry in item.entries)
    return tasks


def _malware_tap(settings: MalwareSettings | None, problems: list[Finding]
                 ) -> MalwareTap | None:
    """A clamd scan beside the hash when `[malware]` is on; readiness problems first."""
    if settings is None or not settings.enabled:
        return None
    from station.malware.clamd import Clamd
    from station.malware.readiness import check_ready
    from station.malware.scanning import Scanner
    from station.verify.malware_tap import MalwareTap

    problems.extend(check_ready(settings, datetime.now(UTC)))
    clamd = Clamd(settings.clamd, timeout=settings.timeout_seconds,
                  scan_timeout=settings.scan_timeout_seconds)
    return MalwareTap(Scanner(clamd), required=settings.required)


_VANISHING = frozenset({"missing", "unreadable", "changed"})


def _media_still_there(bundle: Bundle, results: Sequence[HashResult]) -> None:
    """A listed file found missing after the listing succeeded is the media going away (a
    stick pulled, a lazy unmount) when the media folder is gone or is another folder now:
    that ends the transfer as aborted (MediaError), never as a rejection of the bundle."""
    if bundle.root_identity is None or not any(
        r.problem is not None and r.problem.code in _VANISHING for r in results
    ):
        return
    try:
        st = os.stat(bundle.root)
        same = (st.st_dev, st.st_ino) == bundle.root_identity and any(os.scandir(bundle.root))
    except OSError:
        same = False
    if not same:
        raise MediaError(f"the media at {bundle.root} went away while it was being read")


def _free_space(folder: Path) -> int:
    import psutil  # only when staging; `station verify` starts faster without it

    return int(psutil.disk_usage(str(folder)).free)


def _prepare_staging(staging_root: Path, digest: str, needed: int) -> Path:
    staging = staging_root / digest.removeprefix("sha256:")
    if staging.exists():
        shutil.rmtree(staging)
    try:
        (staging / "oci" / "blobs" / "sha256").mkdir(parents=True, mode=0o700)
        (staging / "files").mkdir(mode=0o700)
    except OSError as exc:
        raise StagingError(f"cannot make the staging folder {staging}: {exc.strerror}") from exc
    free = _free_space(staging)
    if needed + SPACE_MARGIN > free:
        shutil.rmtree(staging, ignore_errors=True)
        raise StagingError(
            f"staging needs {needed + SPACE_MARGIN} bytes (the bundle's {needed} and "
            f"{SPACE_MARGIN} the station keeps for its records) but only {free} are free in "
            f"{staging_root}",
            hint="free space on the station (old transfers are cleaned at start-up), "
            "then verify again",
        )
    return staging


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
    policy: PolicyRules,
    *,
    limits: Limits | None = None,
    staging_root: Path | None = None,
    checks: Sequence[StagedCheck] = (),
    malware: MalwareSettings | None = None,
    scratch_root: Path | None = None,
    durable_images: bool = True,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> Verification:
    """Check signatures, hash every listed file (staging what it feeds), apply the policy
    and the content `checks`.

    With `staging_root`, everything is staged in `staging_root/<digest hex>/` while it is
    hashed (see `staged`); when the verdict is accepted the result's `staged` describes that
    copy. On rejection or failure nothing stays staged. Without it, nothing is written,
    unless a content check needs the images on disk: then they are staged in a private
    folder under `scratch_root` and removed when the verdict is known. With `malware`
    settings (enabled), every file and every file inside every layer goes to clamd from the
    same read (`malware_tap`). Staged files are always on disk before the verdict; staged
    image blobs only with `durable_images` (off when the target streams them: `BlobStore`).
    """
    limits = limits or Limits()
    signatures = tuple(check_signatures(bundle.manifest, bundle.signatures, trust))
    sig_problems, sig_warnings = signature_findings(bundle, signatures)
    problems = [*bundle.problems, *sig_problems]
    warnings = [*bundle.warnings, *sig_warnings]
    policy_findings = policy.check(bundle, signatures)
    if not any(check.valid for check in signatures):
        # The signature check already said there is no valid signature; do not say it twice.
        policy_findings = [f for f in policy_findings if f.code != "not-enough-signers"]
    problems.extend(policy_findings)
    tap = _malware_tap(malware, problems)

    staging: Path | None = None
    scratch: Path | None = None
    needs_layers = bundle.images and any(check.active for check in checks)
    if staging_root is None and needs_layers and scratch_root is not None:
        scratch_root.mkdir(parents=True, exist_ok=True, mode=0o700)
        scratch = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-verify-", dir=scratch_root))
        staging_root = scratch
    if staging_root is not None and not problems:
        needed = sum(planned_size(bundle.root, entry) for entry in bundle.entries)
        staging = _prepare_staging(staging_root, bundle.digest, needed)
    budget = ByteBudget(limits.max_archive_index_bytes)
    space = SpaceBudget(_free_space(staging) if staging is not None else None)
    store = BlobStore(staging / "oci" / "blobs" / "sha256" if staging else None, space,
                      durable=durable_images)
    area = StagingArea(store, staging / "files" if staging else None, budget, tap)
    staged: StagedBundle | None = None
    images: tuple[ImageInfo, ...] = ()
    summaries: dict[str, Mapping[str, Any]] = {}
    image_checks: tuple[ImageSignatureCheck, ...] = ()
    try:
        if bundle.package is not None:  # a vendor package: its files are inside it
            results = hash_package(bundle, limits=limits, area=area, on_progress=on_progress,
                                   cancel=cancel)
        else:
            results = hash_entries(bundle.root, plan_tasks(bundle.items), limits=limits,
                                   area=area, on_progress=on_progress, cancel=cancel)
        problems.extend(r.problem for r in results if r.problem is not None)
        _media_still_there(bundle, results)
        failed = {r.entry.path for r in results if r.problem is not None}
        readable = [item for item in bundle.items
                    if not any(entry.path in failed for entry in item.entries)]
        reading = read_verified_images(readable, results, limits, budget)
        problems.extend(reading.problems)
        warnings.extend(reading.warnings)
        if tap is not None:
            infected, unscanned, summaries["malware"] = tap.verdict(
                [(item.path, reading.members.get(item.path), item.groups)
                 for item in reading.items]
            )
            problems.extend(infected)
            warnings.extend(unscanned)
        images = tuple(image for item in reading.items for image in item.images)
        image_checks = tuple(check_attached(reading.items, reading.members, trust))
        warnings.extend(signature_warnings(image_checks))
        if not problems:
            sizes = {r.entry.path: r.size for r in results if r.size is not None}
            staged_images = stage_images(reading.items, reading.members, store)
            staged_signatures = stage_signatures(reading.items, image_checks, staged_images,
                                                 store)
            staged = StagedBundle(
                digest=bundle.digest,
                root=staging,
                items=tuple(reading.items),
                images=staged_images,
                files=staged_files(reading.items, sizes),
                files_root=staging / "files" if staging else bundle.root,
                signatures=staged_signatures,
                image_signatures=image_checks,
                blobs_durable=durable_images,
            )
            images = tuple(image for entry in staged_images for image in entry.images)
            if staging is not None:
                entries = staged_images + staged_signatures
                keep = {digest for entry in entries for digest in entry.blobs}
                prune_blobs(store.folder or staging, keep)
                write_layout(staging / "oci", entries)
            problems.extend(
                policy.evaluate_staged(staged, signatures, now=datetime.now(UTC), sizes=sizes)
            )
            for check in checks:
                if not check.applies(staged) or (staging is None and check.active):
                    continue
                found = check.run(staged, on_progress=on_progress, cancel=cancel)
                problems.extend(found.problems)
                warnings.extend(found.warnings)
                summaries[found.name] = found.summary
        store.flusher.wait()  # every staged byte on disk before the verdict is given
    except BaseException:
        if tap is not None:
            tap.abort()
        with contextlib.suppress(StagingError):
            store.flusher.close()
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
        raise
    store.flusher.close()
    if problems or staging is None or scratch is not None:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
            staging = None
        staged = None if problems else staged
    return Verification(
        bundle_digest=bundle.digest,
        signatures=signatures,
        items=tuple(_item_results(results)),
        problems=tuple(problems),
        warnings=tuple(warnings),
        staged=staged if staging is not None else None,
        images=images,
        checks=summaries,
        image_signatures=image_checks,
    )
