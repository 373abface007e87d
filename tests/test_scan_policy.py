"""The station's own findings in the policy's terms: severity, waivers, database age."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from station.bundle.reports import Waiver
from station.config import StationConfig
from station.errors import StationError
from station.scan.policy import ScanPolicy, scan_findings
from station.scan.scanner import scan_layout
from station.scan.vulndb import VulnDB
from tests.scan_builders import build_image, osv_zip, real_dist_info, record, with_version

NOW = datetime(2026, 7, 18, tzinfo=UTC)


@pytest.fixture
def report(tmp_path: Path):  # type: ignore[no-untyped-def]
    layout = tmp_path / "oci"
    build_image(layout, "app:1", [{
        **with_version(real_dist_info("jinja2"), "3.1.2"),  # GHSA-h5c8-rqwp-cp95, MEDIUM
        "app/node_modules/ansi-html/package.json": b'{"name": "ansi-html", "version": "0.0.7"}',
    }])
    db = VulnDB(tmp_path / "home")
    db.install(osv_zip(tmp_path / "e.zip", [record("GHSA-h5c8-rqwp-cp95.json"),
                                             record("GHSA-whgm-jr23-g3j9.json")]),
               bundle_digest="sha256:" + "cd" * 32)
    return scan_layout(layout, None, db, now=NOW)


def codes(findings) -> list[str]:  # type: ignore[no-untyped-def]
    return [f.code for f in findings]


def test_nothing_is_decided_without_policy_keys(report) -> None:  # type: ignore[no-untyped-def]
    assert scan_findings(report, max_severity=None, waivers=(), max_db_age_days=None,
                         now=NOW) == []


def test_findings_at_or_above_max_severity_refuse_unless_waived(report) -> None:  # type: ignore[no-untyped-def]
    high = scan_findings(report, max_severity="HIGH", waivers=(), max_db_age_days=None, now=NOW)
    assert codes(high) == ["vulnerabilities"]
    assert "GHSA-whgm-jr23-g3j9" in high[0].message and "ansi-html" in high[0].message
    assert "GHSA-h5c8" not in high[0].message  # MEDIUM is below HIGH
    # A waiver naming the CVE covers the GHSA record that has it as an alias.
    waiver = Waiver("CVE-2021-23424", "not reachable", date(2027, 1, 1), ("ansi-html",))
    assert scan_findings(report, max_severity="HIGH", waivers=[waiver], max_db_age_days=None,
                         now=NOW) == []
    expired = Waiver("CVE-2021-23424", "not reachable", date(2026, 1, 1))
    assert codes(scan_findings(report, max_severity="HIGH", waivers=[expired],
                               max_db_age_days=None, now=NOW)) == [
        "vulnerabilities", "waiver-expired"]


def test_database_age_and_missing_ecosystems(report, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # PyPI's newest record is from 2024-01-11, npm's from 2023-11-08: both over 30 days.
    old = scan_findings(report, max_severity=None, waivers=(), max_db_age_days=30, now=NOW)
    assert codes(old) == ["vulndb-too-old", "vulndb-too-old"]
    assert "the PyPI vulnerability database is 918 days old" in old[0].message
    assert scan_findings(report, max_severity=None, waivers=(), max_db_age_days=1000,
                         now=NOW) == []
    empty = scan_layout(tmp_path / "oci", None, VulnDB(tmp_path / "nowhere"), now=NOW)
    assert codes(scan_findings(empty, max_severity="CRITICAL", waivers=(), max_db_age_days=None,
                               now=NOW)) == ["vulndb-missing"]


def test_scan_policy_reads_policy_keys(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "station.toml").write_text('[policy]\nmax_severity = "high"\nmax_db_age_days = 7\n')
    assert ScanPolicy.from_config(StationConfig.load(home)) == ScanPolicy("HIGH", 7)
    (home / "station.toml").write_text("[policy]\nmax_db_age_days = -1\n")
    with pytest.raises(StationError, match="max_db_age_days"):
        ScanPolicy.from_config(StationConfig.load(home))
