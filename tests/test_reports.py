"""Scan reports and SBOMs summarised for operators; the max_severity rule with waivers."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from station.bundle import reports
from station.bundle.model import Entry, Item, ItemKind
from station.bundle.reader import open_bundle
from station.config import StationConfig
from station.publish.bundle import create_bundle
from station.verify.policy import Policy
from station.verify.trust import TrustStore
from station.verify.verification import verify_bundle
from tests.builders import Signer

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def trivy(*vulns: tuple[str, str, str]) -> dict[str, Any]:
    return {
        "SchemaVersion": 2,
        "ArtifactName": "registry.example.org/ops/api:1.0",
        "ArtifactType": "container_image",
        "Results": [
            {"Target": "debian 12", "Class": "os-pkgs", "Vulnerabilities": [
                {"VulnerabilityID": vid, "PkgName": pkg, "InstalledVersion": "1.0",
                 "FixedVersion": "1.1", "Severity": severity}
                for vid, pkg, severity in vulns
            ]},
            {"Target": "app", "Class": "lang-pkgs"},
        ],
    }


def waivers(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"type": "transfer-station-waivers", "version": 1, "waivers": list(entries)}


CYCLONEDX = {
    "bomFormat": "CycloneDX",
    "specVersion": "1.5",
    "metadata": {"component": {"name": "ops/api"}},
    "components": [{"name": f"pkg{n}", "version": "1.0"} for n in range(25)],
}
SPDX = {
    "spdxVersion": "SPDX-2.3",
    "name": "ops-api",
    "packages": [{"name": "openssl", "versionInfo": "3.0"}, {"name": "zlib"}],
}
GRYPE = {
    "descriptor": {"name": "grype"},
    "source": {"target": {"userInput": "ops/api:1.0"}},
    "matches": [
        {"vulnerability": {"id": "CVE-2024-1", "severity": "Critical",
                           "fix": {"versions": ["2.0"]}},
         "artifact": {"name": "libx", "version": "1.0"}},
        {"vulnerability": {"id": "CVE-2024-2", "severity": "Negligible"},
         "artifact": {"name": "liby", "version": "1.0"}},
    ],
}


def _docs(**files: dict[str, Any]) -> tuple[list[Item], dict[str, bytes]]:
    data = {f"{name}.json": json.dumps(doc).encode() for name, doc in files.items()}
    items = [Item(path, ItemKind.FILE, (Entry(path, "0" * 64, len(raw)),)) for path, raw in
             data.items()]
    items.append(Item("api.tar", ItemKind.IMAGE_ARCHIVE, (Entry("api.tar", "1" * 64, 10),)))
    return items, data


def _rule(tmp_path: Path, severity: str = "HIGH") -> Policy:
    (tmp_path / "station.toml").write_text(f'[policy]\nmax_severity = "{severity}"\n')
    return Policy.from_config(StationConfig.load(tmp_path))


def _judge(policy: Policy, **files: dict[str, Any]) -> list[str]:
    items, data = _docs(**files)
    return [f.code for f in policy.evaluate_reports(items, data.__getitem__, now=NOW)]


def test_trivy_summary_counts_by_severity() -> None:
    doc = trivy(("CVE-1", "openssl", "CRITICAL"), ("CVE-2", "zlib", "HIGH"),
                ("CVE-3", "zlib", "low"), ("CVE-4", "x", "weird"))
    summary = reports.read_document("scan.json", json.dumps(doc).encode())
    assert isinstance(summary, reports.ScanSummary)
    assert summary.counts == {"CRITICAL": 1, "HIGH": 1, "MEDIUM": 0, "LOW": 1, "UNKNOWN": 1}
    assert summary.describe() == (
        "Trivy report on registry.example.org/ops/api:1.0: 1 critical, 1 high, 1 low, 1 unknown"
    )


def test_grype_summary() -> None:
    summary = reports.read_document("grype.json", json.dumps(GRYPE).encode())
    assert isinstance(summary, reports.ScanSummary) and summary.tool == "Grype"
    assert summary.counts["CRITICAL"] == 1 and summary.counts["UNKNOWN"] == 1
    assert summary.vulnerabilities[0].fixed == "2.0"


def test_sbom_summaries_list_packages() -> None:
    cdx = reports.read_document("sbom.cdx.json", json.dumps(CYCLONEDX).encode())
    assert isinstance(cdx, reports.SbomSummary) and len(cdx.packages) == 25
    assert cdx.describe().startswith("CycloneDX 1.5 SBOM of ops/api: 25 packages (pkg0, pkg1")
    assert cdx.describe().endswith("and 5 more)")
    spdx = reports.read_document("sbom.spdx.json", json.dumps(SPDX).encode())
    assert isinstance(spdx, reports.SbomSummary)
    assert spdx.packages == (("openssl", "3.0"), ("zlib", ""))
    assert spdx.describe() == "SPDX-2.3 SBOM of ops-api: 2 packages (openssl, zlib)"
    assert reports.read_document("x.json", b'{"hello": 1}') is None


def test_max_severity_passes_below_and_refuses_at_or_above(tmp_path: Path) -> None:
    policy = _rule(tmp_path)
    assert _judge(policy, scan=trivy(("CVE-1", "zlib", "MEDIUM"))) == []
    assert _judge(policy, scan=trivy(("CVE-1", "zlib", "HIGH"))) == ["vulnerabilities"]
    assert _judge(policy, scan=trivy(("CVE-1", "zlib", "CRITICAL"))) == ["vulnerabilities"]
    assert _judge(_rule(tmp_path, "CRITICAL"), scan=trivy(("CVE-1", "zlib", "HIGH"))) == []


def test_the_finding_names_the_report_and_vulnerabilities(tmp_path: Path) -> None:
    items, data = _docs(scan=trivy(("CVE-2024-9", "openssl", "CRITICAL")))
    [finding] = _rule(tmp_path).evaluate_reports(items, data.__getitem__, now=NOW)
    assert finding.path == "scan.json"
    assert "CVE-2024-9 (CRITICAL, openssl)" in finding.message


def test_a_waiver_names_the_vulnerability(tmp_path: Path) -> None:
    policy = _rule(tmp_path)
    scan = trivy(("CVE-1", "openssl", "CRITICAL"), ("CVE-2", "zlib", "HIGH"))
    both = waivers({"id": "CVE-1", "reason": "not reachable"},
                   {"id": "CVE-2", "reason": "fixed upstream", "packages": ["zlib"]})
    assert _judge(policy, scan=scan, waivers=both) == []
    one = waivers({"id": "CVE-1", "reason": "not reachable"})
    assert _judge(policy, scan=scan, waivers=one) == ["vulnerabilities"]
    wrong_package = waivers({"id": "CVE-1", "reason": "r"},
                            {"id": "CVE-2", "reason": "r", "packages": ["openssl"]})
    assert _judge(policy, scan=scan, waivers=wrong_package) == ["vulnerabilities"]


def test_an_expired_waiver_no_longer_counts(tmp_path: Path) -> None:
    scan = trivy(("CVE-1", "openssl", "CRITICAL"))
    current = waivers({"id": "CVE-1", "reason": "r", "expires": "2026-06-01"})
    assert _judge(_rule(tmp_path), scan=scan, waivers=current) == []
    old = waivers({"id": "CVE-1", "reason": "r", "expires": "2026-05-31"})
    assert _judge(_rule(tmp_path), scan=scan, waivers=old) == ["vulnerabilities", "waiver-expired"]


def test_images_without_a_scan_report_are_refused_when_the_rule_is_on(tmp_path: Path) -> None:
    assert _judge(_rule(tmp_path), sbom=CYCLONEDX) == ["scan-report-missing"]
    assert _judge(Policy(), sbom=CYCLONEDX) == []


@pytest.mark.parametrize(
    ("name", "doc"),
    [
        ("waivers", {"type": "transfer-station-waivers", "version": 2, "waivers": []}),
        ("waivers", waivers({"id": "CVE-1"})),
        ("waivers", waivers({"id": "CVE-1", "reason": "r", "expires": "someday"})),
        ("scan", {"SchemaVersion": 2, "Results": [{"Vulnerabilities": [{"Severity": "HIGH"}]}]}),
        ("scan", {"SchemaVersion": 2, "Results": "oops"}),
    ],
)
def test_malformed_reports_and_waivers_are_findings(
    tmp_path: Path, name: str, doc: dict[str, Any]
) -> None:
    assert "report-unreadable" in _judge(Policy(), **{name: doc})


def test_deeply_nested_json_is_refused_not_a_crash() -> None:
    items = [Item("scan.json", ItemKind.SCAN_REPORT, (Entry("scan.json", "0" * 64, 1),))]
    hostile = b"[" * 100_000 + b"]" * 100_000
    _, findings = reports.read_documents(items, lambda _: hostile)
    assert [f.code for f in findings] == ["report-unreadable"]


def test_policy_reads_the_staged_report_of_a_real_bundle(tmp_path: Path, signer: Signer) -> None:
    """Signed bundle with an image-less scan report: staged, then judged from staging."""
    scan = tmp_path / "scan.json"
    scan.write_text(json.dumps(trivy(("CVE-7", "openssl", "HIGH"))))
    waiver = tmp_path / "waivers.json"
    waiver.write_text(json.dumps(waivers({"id": "CVE-7", "reason": "mitigated"})))
    home = tmp_path / "home"
    home.mkdir()
    policy = _rule(home)
    verdicts = []
    for name, files in (("plain", [scan]), ("waived", [scan, waiver])):
        media = tmp_path / name
        create_bundle(media, secret_key=signer.secret, files=files, name=name)
        bundle = open_bundle(media)
        assert ItemKind.SCAN_REPORT in [item.kind for item in bundle.items]
        result = verify_bundle(
            bundle, TrustStore.load(signer.trust), staging_root=home / "staging", policy=policy
        )
        verdicts.append([f.code for f in result.problems])
    assert verdicts == [["vulnerabilities"], []]


def test_a_report_too_large_to_read_is_a_finding(tmp_path: Path) -> None:
    from station.bundle.safety import read_media_file

    (tmp_path / "scan.json").write_bytes(b" " * 2048)
    items = [Item("scan.json", ItemKind.SCAN_REPORT, (Entry("scan.json", "0" * 64, 2048),))]
    _, findings = reports.read_documents(
        items, lambda path: read_media_file(tmp_path, path, max_size=1024)
    )
    assert [f.code for f in findings] == ["report-unreadable"]
