"""Text renderings of a bundle and a verification for the terminal."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from station.bundle.model import Bundle, Finding
from station.progress import format_size
from station.verify.check_report import check_lines
from station.verify.verification import Verification

if TYPE_CHECKING:  # `station verify` starts faster without the report readers
    from station.bundle.summaries import ItemSummary


def _findings(title: str, findings: Iterable[Finding]) -> list[str]:
    found = list(findings)
    if not found:
        return []
    return [f"{title} ({len(found)}):", *(f"  - {f.message}" for f in found)]


def render_bundle(bundle: Bundle, summaries: Mapping[str, ItemSummary] | None = None) -> str:
    from station.bundle.summaries import summary_lines

    lines = [f"Bundle:   {bundle.root}", f"Manifest: {bundle.manifest_name}"]
    if bundle.info is not None:
        info = bundle.info
        lines += [
            f"Name:     {info.name} (channel {info.channel}, sequence {info.sequence})",
            f"Created:  {info.created} by {info.producer}",
        ]
    lines.append(f"Digest:   {bundle.digest}")
    signatures = ", ".join(s.name for s in bundle.signatures) or "none"
    lines.append(f"Signature files: {signatures}")
    lines.append(f"Items ({len(bundle.items)}, {format_size(bundle.declared_size)} declared):")
    for item in bundle.items:
        size = "size unlisted" if item.size is None else format_size(item.size)
        lines.append(f"  [{item.kind.value}] {item.path}  {size}")
        if item.description:
            lines.append(f"      {item.description}")
        for reference in item.references:
            lines.append(f"      declares {reference}")
        for image in item.images:
            refs = ", ".join(image.references) or "(untagged)"
            lines.append(f"      image {refs}  {image.platform}  {format_size(image.total_size)}")
            lines.append(f"        config {image.config_digest}")
            if image.created:
                lines.append(f"        created {image.created}")
            for key, value in sorted(image.labels.items()):
                lines.append(f"        label {key}={value}")
            for layer in image.layers:
                lines.append(f"        layer {layer.digest}  {format_size(layer.size)}")
        summary = (summaries or {}).get(item.path)
        if summary is not None:
            lines += [f"      {line}" for line in summary_lines(summary)]
    lines += _findings("Problems", bundle.problems)
    lines += _findings("Warnings", bundle.warnings)
    return "\n".join(lines)


def render_verification(bundle: Bundle, verification: Verification) -> str:
    verdict = "ACCEPTED" if verification.accepted else "REJECTED"
    lines = [f"Verdict:  {verdict}", f"Bundle:   {bundle.root}", f"Digest:   {bundle.digest}"]
    lines.append("Signatures:")
    if not verification.signatures:
        lines.append("  none")
    for check in verification.signatures:
        mark = "valid" if check.valid else "NOT VALID"
        lines.append(f"  {check.file} [{check.scheme}] {mark}: {check.reason}")
    lines += image_signature_lines(verification)
    ok = sum(1 for item in verification.items if item.ok)
    lines.append(f"Files: {ok} of {len(verification.items)} match their checksums")
    for item in verification.items:
        if not item.ok:
            lines.append(f"  - {item.problem}")
    lines += check_section(verification)
    lines += _findings("Problems", verification.problems)
    lines += _findings("Warnings", verification.warnings)
    return "\n".join(lines)


def check_section(verification: Verification) -> list[str]:
    """`Content checks:` and what the station's own scans found (nothing when none ran)."""
    checked = check_lines(verification.checks)
    return ["Content checks:", *(f"  {text}" for text, _ in checked)] if checked else []


def image_signature_lines(verification: Verification) -> list[str]:
    """One line per image saying who signed it, then every signature that does not hold."""
    checks = verification.image_signatures
    if not checks and not verification.images:
        return []
    signers: dict[str, list[str]] = {}
    for check in checks:
        if check.valid:
            signers.setdefault(check.image, []).append(check.who)
    lines = ["Image signatures:"]
    shown: set[str] = set()
    for image in verification.images:
        name = ", ".join(image.references) or image.manifest_digest or image.config_digest
        found = signers.get(image.manifest_digest, [])
        shown.add(image.manifest_digest)
        said = "signed by " + "; ".join(dict.fromkeys(found)) if found else "not signed"
        lines.append(f"  image {name}: {said}")
    for digest, found in signers.items():  # a multi-platform index signed as a whole
        if digest not in shown:
            lines.append(f"  index {digest}: signed by {'; '.join(dict.fromkeys(found))}")
    lines += [f"  - {check.kind} signature {check.artifact[:19]}… NOT VALID: {check.reason}"
              for check in checks if not check.valid]
    return lines
