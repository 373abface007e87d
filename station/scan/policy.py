"""The station's own findings as policy findings, for the verdict of a transfer.

    [policy]
    max_severity = "HIGH"        # the same key as for carried scan reports
    max_db_age_days = 7          # refuse when the database is older than this

`scan_findings` reuses the carried-report rule (station.bundle.reports.severity_findings)
and the bundle's signed waivers, so a vulnerability is judged the same way whether the
producer's scanner or the station found it; a waiver naming a CVE also covers the station's
finding of a record that has that CVE as an alias. Codes:

| code | when |
|---|---|
| `vulnerabilities` | findings at or above `max_severity` that no current waiver names |
| `waiver-expired` | beside the above: waivers past their date |
| `vulndb-missing` | a rule is set but no database is installed, or none for an ecosystem the |
|  | images need |
| `vulndb-too-old` | an ecosystem the images need is older than `max_db_age_days` |
| `scan-incomplete` | with `max_severity`: package data of an image could not be judged |

With neither key set, the station's scan is shown and recorded but decides nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from station.bundle.model import Finding
from station.bundle.reports import ScanSummary, Vulnerability, Waiver, Waivers, severity_findings
from station.config import StationConfig

if TYPE_CHECKING:  # annotations only: `station verify` starts without the matchers
    from station.scan.matching import VulnerabilityMatch
    from station.scan.report import ScanReport

TOOL = "transfer-station"


@dataclass(frozen=True)
class ScanPolicy:
    """The `[policy]` keys the station's own scan answers to."""

    max_severity: str | None = None
    max_db_age_days: int | None = None

    @classmethod
    def from_config(cls, config: StationConfig) -> ScanPolicy:
        """`max_severity` and `max_db_age_days` of `[policy]`, as the configuration model
        checked them."""
        severity = config.policy.max_severity
        return cls(max_severity=severity.upper() if severity is not None else None,
                   max_db_age_days=config.policy.max_db_age_days)


def _waived_id(match: VulnerabilityMatch, waivers: Sequence[Waiver], today: date) -> str:
    """The id a waiver names for this finding: its own, else one of its aliases (a CVE)."""
    for candidate in (match.id, *match.aliases):
        probe = Vulnerability(candidate, match.severity, match.package, match.installed)
        if any(w.covers(probe, today) for w in waivers):
            return candidate
    return match.id


def scan_findings(
    report: ScanReport,
    *,
    max_severity: str | None,
    waivers: Sequence[Waiver],
    max_db_age_days: int | None,
    now: datetime,
) -> list[Finding]:
    """What the policy says about the station's own scan; [] means it passed."""
    if max_severity is None and max_db_age_days is None:
        return []
    needed = sorted(set().union(*(image.ecosystems for image in report.images)))
    if not report.db.installed:
        return [Finding("vulndb-missing", "the policy judges the station's own scan, but no "
                        "vulnerability database is installed")]
    findings: list[Finding] = []
    missing = [name for name in needed if report.db.get(name) is None]
    if missing:
        findings.append(Finding("vulndb-missing", "the images hold packages of "
                                f"{', '.join(missing)}, for which no vulnerability database is "
                                "installed"))
    if max_db_age_days is not None:
        for name in needed:
            status = report.db.get(name)
            if status is not None and status.age_days(now) > max_db_age_days:
                findings.append(Finding(
                    "vulndb-too-old",
                    f"the {name} vulnerability database is {status.age_days(now)} days old "
                    f"(newest record {status.newest.date().isoformat()}); the policy allows "
                    f"{max_db_age_days}",
                ))
    if max_severity is None:
        return findings
    for image in report.images:
        if image.problems:
            first = image.problems[0]
            findings.append(Finding(
                "scan-incomplete",
                f"{image.title}: {len(image.problems)} package databases or packages could not "
                f"be judged, e.g. {first.path}: {first.message}",
            ))
    today = now.astimezone(UTC).date()
    summaries = [
        ScanSummary(
            path=f"station scan: {image.title}",
            tool=TOOL,
            artifact=image.title,
            vulnerabilities=tuple(
                Vulnerability(_waived_id(v, waivers, today), v.severity, v.package, v.installed,
                              v.fixed)
                for v in image.vulnerabilities
            ),
        )
        for image in report.images
    ]
    return findings + severity_findings(
        [*summaries, Waivers("", tuple(waivers))], max_severity, now=now, require_report=False
    )
