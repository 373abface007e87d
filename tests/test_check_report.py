"""The content checks' findings in the words the CLI and the kiosk's verdict screen use."""

from __future__ import annotations

from station.verify.check_report import check_lines

SCAN = {
    "db": {"newest": "2026-11-20T08:00:00Z", "age_days": 11},
    "images": [{
        "reference": "registry.example.org/ops/api:1.0", "config_digest": "sha256:" + "a" * 64,
        "packages": 212, "counts": {"CRITICAL": 1, "MEDIUM": 2},
        "worst": [
            {"id": "CVE-2024-0001", "package": "openssl", "installed": "3.0.1",
             "fixed": "3.0.2", "severity": "CRITICAL"},
            {"id": "CVE-2024-0002", "package": "zlib", "installed": "1.2", "fixed": "",
             "severity": "MEDIUM"},
        ],
        "problems": 0,
        "carried": [{"path": "reports/api.trivy.json", "tool": "Trivy", "counts": {}}],
        "disagrees": True,
    }],
}


def test_vulnerabilities_name_the_worst_and_a_carried_report_that_disagrees() -> None:
    assert check_lines({"vulnerabilities": SCAN}) == [
        ("Vulnerability scan by the station (database of 2026-11-20):", "check-title"),
        ("  registry.example.org/ops/api:1.0 (212 packages): 1 critical, 2 medium", "problem"),
        ("    critical CVE-2024-0001: openssl 3.0.1, fixed in 3.0.2", "explain"),
        ("    medium CVE-2024-0002: zlib 1.2, no fix yet", "explain"),
        ("    the carried Trivy report says no known vulnerabilities: DISAGREES with the "
         "station's scan", "warning"),
    ]


def test_a_skipped_scan_is_left_to_its_warning() -> None:
    assert check_lines({"vulnerabilities": {"skipped": "no vulnerability database"}}) == []


def test_malware_found_is_a_problem_naming_file_layer_and_signature() -> None:
    found = {"scanned": 1204, "not_scanned": 1, "found": [
        {"path": "images/app.tar", "image": "registry.example.org/ops/app:1",
         "layer": "sha256:" + "b" * 64,
         "member": "usr/bin/evil", "outcome": "found", "signature": "Eicar-Test-Signature"},
        {"path": "files/tool.exe", "image": None, "layer": None, "member": None,
         "outcome": "found", "signature": "Win.Trojan.Demo"},
    ]}
    assert check_lines({"malware": found}) == [
        ("✘ MALWARE FOUND by ClamAV in 2 files (1204 files scanned)", "problem"),
        ("    usr/bin/evil in registry.example.org/ops/app:1 (layer sha256:bbbbbbbbbbbb…): "
         "Eicar-Test-Signature", "problem"),
        ("    files/tool.exe: Win.Trojan.Demo", "problem"),
        ("! 1 file could not be scanned for malware", "warning"),
    ]


def test_a_clean_malware_scan_says_how_much_it_read() -> None:
    assert check_lines({"malware": {"scanned": 1, "found": [], "not_scanned": 0}}) == [
        ("✔ Malware scan by ClamAV: 1 file scanned, nothing found", "check-ok"),
    ]
