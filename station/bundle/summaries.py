"""What the SBOMs and scan reports on the media say, for people to read before verifying.

`station inspect` and the kiosk's contents screen show each SBOM's packages and each scan
report's counts by severity. These bytes come straight from the media and have not been
verified yet, so every rendering says so (`UNVERIFIED`), and nothing here decides anything:
the policy judges only the verified copy in staging (`station.verify.policy`).

Every file is hostile: it is read through `read_media_file` (size cap, no links) and a file
that cannot be read or parsed becomes an `Unreadable` note, never an exception.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from station.bundle.model import Item, ItemKind
from station.bundle.reports import (
    SEVERITIES,
    SHOWN_PACKAGES,
    SbomSummary,
    ScanSummary,
    read_document,
    severity_rank,
)
from station.bundle.safety import describe_name, read_media_file
from station.config import Limits
from station.errors import StationError

UNVERIFIED = "from the media, not yet verified"
SHOWN_NAMES = 5
"""Package names shown in a line of text; `--json` lists up to `SHOWN_PACKAGES`."""
SHOWN_WORST = 3
"""Worst findings named in text (CRITICAL first)."""
SEVERITY_ORDER = tuple(reversed(SEVERITIES))
"""CRITICAL, HIGH, MEDIUM, LOW, UNKNOWN: the order counts are shown in."""


@dataclass(frozen=True)
class Unreadable:
    """An SBOM or scan report that could not be read or parsed, and why, in plain words."""

    path: str
    reason: str

    def describe(self) -> str:
        return f"cannot read: {self.reason}"


ItemSummary = ScanSummary | SbomSummary | Unreadable


def summarise_items(root: Path, items: Iterable[Item], limits: Limits) -> dict[str, ItemSummary]:
    """Each SBOM and scan-report item's summary, by item path, read from the media at `root`.

    Items of other kinds are left out. Never raises for what is on the media: a link, a
    missing file, a file that is not JSON or no longer an SBOM or report all become
    `Unreadable`, and so does a file over `limits.max_manifest_bytes`, the cap for any
    unverified JSON parsed whole (a hostile 64 MiB of `{},` would take ~1.7 GB to parse).
    """
    summaries: dict[str, ItemSummary] = {}
    for item in items:
        if item.kind in (ItemKind.SBOM, ItemKind.SCAN_REPORT):
            summaries[item.path] = _summarise(root, item, limits.max_manifest_bytes)
    return summaries


def _summarise(root: Path, item: Item, max_size: int) -> ItemSummary:
    if len(item.entries) != 1:
        return Unreadable(item.path, "it is not a single file")
    name = item.entries[0].path
    try:
        data = read_media_file(root, name, max_size=max_size)
        document = read_document(item.path, data)
    except FileNotFoundError:
        return Unreadable(item.path, f"{describe_name(name)} is missing")
    except StationError as exc:
        return Unreadable(item.path, exc.message)
    except OSError as exc:
        return Unreadable(item.path, f"{describe_name(name)}: {exc.strerror or exc}")
    if not isinstance(document, ScanSummary | SbomSummary):
        return Unreadable(item.path, "it is not an SBOM or scan report (any more)")
    return document


def count_line(summary: ScanSummary) -> str:
    """`CRITICAL 1, HIGH 2, MEDIUM 0, LOW 3, UNKNOWN 0`: every severity, in words."""
    counts = summary.counts
    return ", ".join(f"{severity} {counts[severity]}" for severity in SEVERITY_ORDER)


def worst(summary: ScanSummary, limit: int = SHOWN_WORST) -> list[str]:
    """The most severe findings, printable: `CVE-2024-1 (CRITICAL, openssl 3.0.1)`."""
    ranked = sorted(summary.vulnerabilities, key=lambda v: -severity_rank(v.severity))
    shown = []
    for vuln in ranked[:limit]:
        package = " ".join(p for p in (vuln.package, vuln.version) if p) or "?"
        shown.append(describe_name(f"{vuln.id} ({vuln.severity}, {package})"))
    return shown


def package_line(summary: SbomSummary, limit: int = SHOWN_NAMES) -> str:
    """`3 packages: busybox, musl, zlib`, with `and N more` past `limit` names."""
    count = len(summary.packages)
    noun = "package" if count == 1 else "packages"
    names = ", ".join(describe_name(name) for name, _ in summary.packages[:limit])
    if count > limit:
        names += f" and {count - limit} more"
    return f"{count} {noun}" + (f": {names}" if names else "")


def title(summary: ScanSummary | SbomSummary) -> str:
    """`Trivy report on X` or `CycloneDX 1.5 SBOM of X`, printable."""
    if isinstance(summary, ScanSummary):
        text = f"{summary.tool} report on {summary.artifact or '?'}"
    else:
        text = f"{summary.format} SBOM of {summary.subject or '?'}"
    return describe_name(text)


def summary_lines(summary: ItemSummary) -> list[str]:
    """The summary as plain printable lines (names from the media escaped), labelled unverified."""
    if isinstance(summary, Unreadable):
        return [describe_name(summary.describe())]
    lines = [f"{title(summary)} ({UNVERIFIED})"]
    if isinstance(summary, ScanSummary):
        total = len(summary.vulnerabilities)
        lines.append(f"{total} vulnerabilities: {count_line(summary)}")
        lines += [f"worst: {line}" for line in worst(summary)]
    else:
        lines.append(package_line(summary))
    return lines


def summary_to_json(summary: ItemSummary) -> dict[str, object]:
    """The `summary` object of an item in `station inspect --json` (strings as on the media)."""
    if isinstance(summary, Unreadable):
        return {"type": "unreadable", "verified": False, "error": summary.describe()}
    if isinstance(summary, ScanSummary):
        return {
            "type": "scan-report",
            "verified": False,
            "tool": summary.tool,
            "artifact": summary.artifact,
            "vulnerabilities": len(summary.vulnerabilities),
            "counts": {severity: summary.counts[severity] for severity in SEVERITY_ORDER},
        }
    return {
        "type": "sbom",
        "verified": False,
        "format": summary.format,
        "subject": summary.subject,
        "packages": len(summary.packages),
        "package_names": [name for name, _ in summary.packages[:SHOWN_PACKAGES]],
    }

