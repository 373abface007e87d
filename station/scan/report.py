"""What a scan found, and its `--json` form (an interface: sites script against it).

    {"db": {"ecosystems": [{"name", "records", "newest", "age_days", "bundle_digest",
                            "installed_at"}],
            "newest", "age_days"},
     "images": [{"reference", "config_digest", "packages",
                 "vulnerabilities": [{"id", "aliases", "package", "ecosystem", "installed",
                                      "fixed", "severity"}],
                 "distro", "problems": [{"path", "message"}]}]}

`packages` is the number of packages catalogued; `distro` (`Debian:12`, `Alpine:v3.19` or
null) and `problems` (what could not be catalogued or matched) come beside the fields the
issue names. `db.newest` is the least recent of the ecosystems' newest records and
`db.age_days` its age: every part of the database is at least that current.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from station.bundle.reports import SEVERITIES, severity_rank
from station.scan.matching import VulnerabilityMatch
from station.scan.model import Distro, Package, PackageType, Problem
from station.scan.vulndb import DbStatus


@dataclass(frozen=True)
class ImageScan:
    """One image: what it is, what it holds, what affects it, what could not be judged."""

    reference: str | None
    references: tuple[str, ...]
    manifest_digest: str
    config_digest: str
    distro: Distro | None
    packages: tuple[Package, ...]
    vulnerabilities: tuple[VulnerabilityMatch, ...]
    problems: tuple[Problem, ...]
    ecosystems: frozenset[str]  # base ecosystems its packages were matched in

    @property
    def title(self) -> str:
        return self.reference or f"@{self.manifest_digest}"

    @property
    def distro_ecosystem(self) -> str | None:
        if self.distro is None:
            return None
        for kind in (PackageType.DEB, PackageType.APK):
            found = self.distro.osv_ecosystem(kind)
            if found is not None:
                return found
        return None

    @property
    def counts(self) -> dict[str, int]:
        """Vulnerabilities by severity, worst first (CRITICAL ... UNKNOWN)."""
        found = Counter(v.severity for v in self.vulnerabilities)
        return {severity: found.get(severity, 0) for severity in reversed(SEVERITIES)}

    def worst(self, count: int = 5) -> list[VulnerabilityMatch]:
        return sorted(self.vulnerabilities, key=lambda v: (-severity_rank(v.severity), v.id))[
            :count
        ]

    def to_json(self) -> dict[str, Any]:
        ordered = sorted(
            self.vulnerabilities, key=lambda v: (-severity_rank(v.severity), v.package, v.id)
        )
        return {
            "reference": self.reference,
            "config_digest": self.config_digest,
            "packages": len(self.packages),
            "vulnerabilities": [v.to_json() for v in ordered],
            "distro": self.distro_ecosystem,
            "problems": [p.to_json() for p in self.problems],
        }


@dataclass(frozen=True)
class ScanReport:
    """Every image scanned, and the database they were matched against."""

    db: DbStatus
    images: tuple[ImageScan, ...]
    scanned_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {"db": self.db.to_json(), "images": [image.to_json() for image in self.images]}
