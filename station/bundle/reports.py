"""Scan reports, SBOMs and waivers carried in a bundle: read, summarise, judge severities.

Operators see what the producer's scanner found before they approve: Trivy or Grype JSON
(counts by severity, the worst findings) and CycloneDX or SPDX JSON SBOMs (package counts
and names). The station does not scan images itself: trivy and grype cannot be installed on
it here (when one is, its result could be shown beside the carried report).

The policy's `max_severity` refuses a bundle whose scan report lists a vulnerability at or
above that severity, unless a waiver file in the same bundle names it. Reports and waivers
count only as verified bytes: the workflow reads them from staging, after hashing. Waiver
format (a JSON file listed in the signed manifest, any name):

    {"type": "transfer-station-waivers", "version": 1,
     "waivers": [{"id": "CVE-2024-1234", "reason": "not reachable in our use",
                  "expires": "2027-01-01", "packages": ["openssl"]}]}

`expires` (a date, UTC end of day) and `packages` are optional; a waiver without `packages`
covers the vulnerability in every package.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from station.bundle.model import Finding, Item, ItemKind
from station.errors import StationError

SEVERITIES = ("UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL")
_SEVERITY_ALIASES = {"NEGLIGIBLE": "UNKNOWN", "INFO": "UNKNOWN", "NONE": "UNKNOWN"}
WAIVER_TYPE = "transfer-station-waivers"
SHOWN_PACKAGES = 20


class ReportError(StationError):
    """A report, SBOM or waiver file in the bundle cannot be read as what it claims to be."""


class NotJSONError(ReportError):
    """The file is not JSON at all: for a plain file that is fine, it is just a file."""


def severity_rank(name: str) -> int:
    """Position in SEVERITIES; unknown words rank as UNKNOWN (the lowest)."""
    upper = _SEVERITY_ALIASES.get(name.upper(), name.upper())
    return SEVERITIES.index(upper) if upper in SEVERITIES else 0


def normalise_severity(name: str) -> str:
    return SEVERITIES[severity_rank(name)]


@dataclass(frozen=True)
class Vulnerability:
    id: str
    severity: str
    package: str
    version: str = ""
    fixed: str = ""


@dataclass(frozen=True)
class ScanSummary:
    """One scanner report: which tool, about what, counts by severity, each finding."""

    path: str
    tool: str
    artifact: str
    vulnerabilities: tuple[Vulnerability, ...]

    @property
    def counts(self) -> dict[str, int]:
        found = Counter(v.severity for v in self.vulnerabilities)
        return {severity: found.get(severity, 0) for severity in reversed(SEVERITIES)}

    def describe(self) -> str:
        counts = ", ".join(f"{n} {s.lower()}" for s, n in self.counts.items() if n)
        return f"{self.tool} report on {self.artifact or '?'}: {counts or 'no vulnerabilities'}"


@dataclass(frozen=True)
class SbomSummary:
    """One SBOM: its format, what it describes and the packages it lists."""

    path: str
    format: str
    subject: str
    packages: tuple[tuple[str, str], ...]

    def describe(self) -> str:
        names = ", ".join(name for name, _ in self.packages[:SHOWN_PACKAGES])
        more = len(self.packages) - SHOWN_PACKAGES
        if more > 0:
            names += f" and {more} more"
        return f"{self.format} SBOM of {self.subject or '?'}: {len(self.packages)} packages" + (
            f" ({names})" if names else ""
        )


@dataclass(frozen=True)
class Waiver:
    id: str
    reason: str
    expires: date | None = None
    packages: tuple[str, ...] = ()

    def covers(self, vulnerability: Vulnerability, today: date) -> bool:
        if vulnerability.id != self.id:
            return False
        if self.expires is not None and today > self.expires:
            return False
        return not self.packages or vulnerability.package in self.packages


@dataclass(frozen=True)
class Waivers:
    path: str
    waivers: tuple[Waiver, ...] = field(default_factory=tuple)


Document = ScanSummary | SbomSummary | Waivers


def _obj(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ReportError(f"{where} is not a JSON object")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ReportError(f"{where} is not a JSON list")
    return value


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _sub(doc: dict[str, Any], key: str) -> dict[str, Any]:
    """An optional nested object; anything else counts as absent."""
    value = doc.get(key)
    return value if isinstance(value, dict) else {}


def _trivy(path: str, doc: dict[str, Any]) -> ScanSummary:
    found = []
    for n, result in enumerate(_list(doc.get("Results"), f"{path}: Results")):
        result = _obj(result, f"{path}: Results[{n}]")
        for m, vuln in enumerate(_list(result.get("Vulnerabilities"), f"{path}: Vulnerabilities")):
            vuln = _obj(vuln, f"{path}: Results[{n}].Vulnerabilities[{m}]")
            vuln_id = _str(vuln.get("VulnerabilityID"))
            if not vuln_id:
                raise ReportError(f"{path}: Results[{n}].Vulnerabilities[{m}] has no ID")
            found.append(
                Vulnerability(
                    id=vuln_id,
                    severity=normalise_severity(_str(vuln.get("Severity"))),
                    package=_str(vuln.get("PkgName")),
                    version=_str(vuln.get("InstalledVersion")),
                    fixed=_str(vuln.get("FixedVersion")),
                )
            )
    return ScanSummary(path, "Trivy", _str(doc.get("ArtifactName")), tuple(found))


def _grype(path: str, doc: dict[str, Any]) -> ScanSummary:
    found = []
    for n, match in enumerate(_list(doc.get("matches"), f"{path}: matches")):
        match = _obj(match, f"{path}: matches[{n}]")
        vuln = _obj(match.get("vulnerability"), f"{path}: matches[{n}].vulnerability")
        artifact = _obj(match.get("artifact", {}), f"{path}: matches[{n}].artifact")
        vuln_id = _str(vuln.get("id"))
        if not vuln_id:
            raise ReportError(f"{path}: matches[{n}] has no vulnerability id")
        fix = _sub(vuln, "fix")
        found.append(
            Vulnerability(
                id=vuln_id,
                severity=normalise_severity(_str(vuln.get("severity"))),
                package=_str(artifact.get("name")),
                version=_str(artifact.get("version")),
                fixed=", ".join(v for v in _list(fix.get("versions"), "fix") if isinstance(v, str)),
            )
        )
    source = _sub(doc, "source")
    target = source.get("target")
    name = _str(target.get("userInput")) if isinstance(target, dict) else _str(target)
    return ScanSummary(path, "Grype", name, tuple(found))


def _packages(entries: list[Any], version_key: str) -> tuple[tuple[str, str], ...]:
    packages = []
    for entry in entries:
        if isinstance(entry, dict) and _str(entry.get("name")):
            packages.append((_str(entry.get("name")), _str(entry.get(version_key))))
    return tuple(packages)


def _cyclonedx(path: str, doc: dict[str, Any]) -> SbomSummary:
    component = _sub(_sub(doc, "metadata"), "component")
    return SbomSummary(
        path,
        f"CycloneDX {_str(doc.get('specVersion'))}".strip(),
        _str(component.get("name")),
        _packages(_list(doc.get("components"), f"{path}: components"), "version"),
    )


def _spdx(path: str, doc: dict[str, Any]) -> SbomSummary:
    return SbomSummary(
        path,
        _str(doc.get("spdxVersion")) or "SPDX",
        _str(doc.get("name")),
        _packages(_list(doc.get("packages"), f"{path}: packages"), "versionInfo"),
    )


def _waivers(path: str, doc: dict[str, Any]) -> Waivers:
    if doc.get("version") != 1:
        raise ReportError(f"{path}: waiver file version {doc.get('version')!r} (only 1 is known)")
    waivers = []
    for n, entry in enumerate(_list(doc.get("waivers"), f"{path}: waivers")):
        where = f"{path}: waivers[{n}]"
        entry = _obj(entry, where)
        unknown = set(entry) - {"id", "reason", "expires", "packages", "approved_by"}
        if unknown:
            raise ReportError(f"{where}: unknown keys {', '.join(sorted(unknown))}")
        if not _str(entry.get("id")) or not _str(entry.get("reason")):
            raise ReportError(f"{where}: needs an id and a reason")
        expires = None
        if entry.get("expires") is not None:
            try:
                expires = date.fromisoformat(_str(entry.get("expires")))
            except ValueError as exc:
                raise ReportError(f"{where}: expires must be a date (YYYY-MM-DD)") from exc
        packages = _list(entry.get("packages"), f"{where}.packages")
        if not all(isinstance(p, str) for p in packages):
            raise ReportError(f"{where}: packages must be names")
        waivers.append(Waiver(entry["id"], entry["reason"], expires, tuple(packages)))
    return Waivers(path, tuple(waivers))


def read_document(path: str, data: bytes) -> Document | None:
    """What a JSON file in the bundle is, summarised; None when it is none of these."""
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise NotJSONError(f"{path}: not JSON ({exc})") from exc
    if not isinstance(doc, dict):
        return None
    if doc.get("type") == WAIVER_TYPE:
        return _waivers(path, doc)
    if doc.get("bomFormat") == "CycloneDX":
        return _cyclonedx(path, doc)
    if "spdxVersion" in doc:
        return _spdx(path, doc)
    if "SchemaVersion" in doc and "Results" in doc:
        return _trivy(path, doc)
    if "matches" in doc and "descriptor" in doc:
        return _grype(path, doc)
    return None


def _is_json_candidate(item: Item) -> bool:
    if item.kind in (ItemKind.SBOM, ItemKind.SCAN_REPORT):
        return True
    return item.kind is ItemKind.FILE and item.path.lower().endswith(".json")


def read_documents(
    items: Iterable[Item], read: Callable[[str], bytes]
) -> tuple[list[Document], list[Finding]]:
    """Summaries of every report, SBOM and waiver file among the items.

    `read(path)` returns a file's verified bytes (from staging). A file that is, or says it
    is, a report, SBOM or waiver list but cannot be read is a finding (never skipped); JSON
    files that are none of these are simply files.
    """
    documents: list[Document] = []
    findings: list[Finding] = []
    for item in items:
        if not _is_json_candidate(item) or len(item.entries) != 1:
            continue
        claimed = item.kind in (ItemKind.SBOM, ItemKind.SCAN_REPORT)
        try:
            data = read(item.entries[0].path)
        except StationError as exc:
            findings.append(Finding("report-unreadable", f"{item.path}: {exc}", item.path))
            continue
        try:
            document = read_document(item.path, data)
        except ReportError as exc:
            if claimed or not isinstance(exc, NotJSONError):
                findings.append(Finding("report-unreadable", exc.message, item.path))
            continue
        if document is None and claimed:
            findings.append(
                Finding("report-unreadable", f"{item.path}: not a report or SBOM", item.path)
            )
        elif document is not None:
            documents.append(document)
    return documents, findings


def severity_findings(
    documents: Sequence[Document],
    max_severity: str,
    *,
    now: datetime,
    require_report: bool,
) -> list[Finding]:
    """Refuse vulnerabilities at or above `max_severity` that no current waiver names."""
    limit = severity_rank(max_severity)
    reports = [d for d in documents if isinstance(d, ScanSummary)]
    waivers = [w for d in documents if isinstance(d, Waivers) for w in d.waivers]
    today = now.astimezone(UTC).date()
    if require_report and not reports:
        return [
            Finding(
                "scan-report-missing",
                f"the policy refuses vulnerabilities of severity {max_severity} and above, "
                "but the bundle carries no scan report (Trivy or Grype JSON)",
            )
        ]
    findings = []
    for report in reports:
        blocking = [
            v
            for v in report.vulnerabilities
            if severity_rank(v.severity) >= limit and not any(w.covers(v, today) for w in waivers)
        ]
        if not blocking:
            continue
        shown = ", ".join(f"{v.id} ({v.severity}, {v.package or '?'})" for v in blocking[:5])
        more = f" and {len(blocking) - 5} more" if len(blocking) > 5 else ""
        findings.append(
            Finding(
                "vulnerabilities",
                f"{report.path}: {len(blocking)} vulnerabilities of severity {max_severity} or "
                f"above without a waiver: {shown}{more}",
                report.path,
            )
        )
    expired = sorted({w.id for w in waivers if w.expires is not None and today > w.expires})
    if findings and expired:
        findings.append(
            Finding("waiver-expired", f"waivers past their expiry date: {', '.join(expired)}")
        )
    return findings
