"""The station's own vulnerability scan as a content check of every transfer (issue 14).

After verification, every staged image is scanned against the installed OSV database;
`[policy] max_severity` and the bundle's signed waivers judge the station's findings as they
judge carried reports, and `[policy] max_db_age_days` refuses a transfer when the database is
too old to trust. A bundle that carries an OSV export renews the database itself, so the age
rule does not hold it back. Without a database and without `max_db_age_days`, the scan is
skipped with a warning (the operator sees it); with `max_db_age_days`, a missing database is
a refusal.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from station.bundle.model import Finding
from station.bundle.reports import Document, ScanSummary, Waivers, read_documents
from station.bundle.safety import read_media_file
from station.config import StationConfig
from station.errors import StationError
from station.progress import ProgressCallback
from station.references import ReferenceError, normalise
from station.scan.policy import ScanPolicy, scan_findings
from station.scan.vulndb import VulnDB
from station.verify.checks import CheckResult, StagedCheck
from station.verify.staged import StagedBundle

NAME = "vulnerabilities"
SHOWN_WORST = 5
MAX_WAIVER_BYTES = 16 * 1024 * 1024


def carries_database(staged: StagedBundle) -> bool:
    """Whether the bundle brings an OSV export (recognised by content)."""
    root = staged.files_root
    return root is not None and any(
        VulnDB.is_osv_export(root / staged_file.path) for staged_file in staged.files
    )


def _documents(staged: StagedBundle) -> list[Document]:
    """The verified reports, SBOMs and waiver lists the bundle carries."""
    root = staged.files_root
    if root is None:
        return []

    def read(path: str) -> bytes:
        return read_media_file(root, path, max_size=MAX_WAIVER_BYTES)

    documents, _ = read_documents(staged.items, read)
    return documents


def _about(report: ScanSummary, reference: str | None, config_digest: str | None) -> bool:
    """Whether a carried report is about this image: same name (normalised) or same ID."""
    artifact = report.artifact.strip()
    if not artifact:
        return False
    if config_digest and config_digest.removeprefix("sha256:") in artifact:
        return True
    try:
        return reference is not None and normalise(artifact) == reference
    except ReferenceError:
        return False


def _nonzero(counts: dict[str, int]) -> dict[str, int]:
    return {severity: n for severity, n in counts.items() if n}


def summary(report_json: dict[str, Any], carried: Sequence[ScanSummary] = ()) -> dict[str, Any]:
    """The scan's outcome in the size an audit record and a receipt can carry.

    Beside each image, the carried reports about it and whether they disagree with the
    station's own counts: a vendor report that says "no critical" where the station finds
    one is worth the operators' attention even when the policy lets both through.
    """
    images = []
    for image in report_json.get("images", []):
        vulns = image.get("vulnerabilities", [])
        counts: dict[str, int] = {}
        for vuln in vulns:
            counts[vuln["severity"]] = counts.get(vuln["severity"], 0) + 1
        order = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN")
        worst = sorted(vulns, key=lambda v: order.index(v["severity"])
                       if v["severity"] in order else len(order))[:SHOWN_WORST]
        reports = [r for r in carried
                   if _about(r, image.get("reference"), image.get("config_digest"))]
        images.append({
            "reference": image.get("reference"),
            "config_digest": image.get("config_digest"),
            "packages": image.get("packages"),
            "counts": counts,
            "worst": [{"id": v["id"], "package": v["package"], "installed": v["installed"],
                       "fixed": v["fixed"], "severity": v["severity"]} for v in worst],
            "problems": len(image.get("problems", [])),
            "carried": [{"path": r.path, "tool": r.tool, "counts": _nonzero(r.counts)}
                        for r in reports],
            "disagrees": any(_nonzero(r.counts) != counts for r in reports),
        })
    return {"db": report_json.get("db"), "images": images}


class VulnerabilityCheck:
    """Scans every staged image; see the module docstring for the rules."""

    name = NAME

    def __init__(self, db: VulnDB, policy: ScanPolicy) -> None:
        self.db = db
        self.policy = policy

    @property
    def active(self) -> bool:
        return self.policy.max_db_age_days is not None or self.db.status().installed

    def applies(self, staged: StagedBundle) -> bool:
        return bool(staged.images)

    def run(
        self,
        staged: StagedBundle,
        *,
        on_progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> CheckResult:
        now = datetime.now(UTC)
        renewing = carries_database(staged)
        max_age = None if renewing else self.policy.max_db_age_days
        if not self.db.status().installed and max_age is None:
            warning = Finding("vulndb-missing", "no vulnerability database is installed: the "
                              "station did not scan the images itself")
            return CheckResult(NAME, warnings=(warning,), summary={"skipped": warning.message})
        from station.scan.scanner import scan_layout  # only when there is something to scan

        try:
            report = scan_layout(staged.layout, None, self.db, on_progress=on_progress,
                                 cancel=cancel, now=now)
        except StationError as exc:
            problem = Finding("scan-incomplete", f"the station's scan could not run: {exc}")
            return CheckResult(NAME, problems=(problem,), summary={"error": exc.message})
        documents = _documents(staged)
        waivers = [w for doc in documents if isinstance(doc, Waivers) for w in doc.waivers]
        carried = [doc for doc in documents if isinstance(doc, ScanSummary)]
        findings = scan_findings(report, max_severity=self.policy.max_severity,
                                 waivers=waivers, max_db_age_days=max_age, now=now)
        return CheckResult(NAME, problems=tuple(findings),
                           summary=summary(report.to_json(), carried))


def checks_for(config: StationConfig) -> list[StagedCheck]:
    """The content checks every transfer (and `station verify`) runs on this station."""
    return [VulnerabilityCheck(VulnDB(config.home), ScanPolicy.from_config(config))]
