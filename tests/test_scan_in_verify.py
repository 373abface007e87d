"""`station verify` scans every image itself and sets its findings beside the carried reports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from station.bundle.model import ItemKind
from station.publish.bundle import create_bundle
from station.publish.imagebuild import write_oci_archive
from station.scan.vulndb import VulnDB
from tests.builders import make_signer
from tests.report_samples import dump
from tests.scan_builders import build_image, osv_zip, real_dist_info, record, with_version

REFERENCE = "registry.example.org/ops/app:1"


def _trivy(artifact: str, *vulns: tuple[str, str, str]) -> dict[str, Any]:
    return {
        "SchemaVersion": 2, "ArtifactName": artifact, "ArtifactType": "container_image",
        "Results": [{"Target": "app", "Class": "lang-pkgs", "Vulnerabilities": [
            {"VulnerabilityID": vid, "PkgName": pkg, "InstalledVersion": "3.1.2",
             "FixedVersion": "3.1.3", "Severity": severity} for vid, pkg, severity in vulns]}],
    }


def _verify(tmp_path: Path, report: dict[str, Any]) -> dict[str, Any]:
    """A signed bundle of one vulnerable image and a carried report; the verify JSON."""
    layout = tmp_path / "oci"
    build_image(layout, REFERENCE, [with_version(real_dist_info("jinja2"), "3.1.2")])
    archive = tmp_path / "app.oci.tar"
    write_oci_archive(layout, archive)
    carried = tmp_path / "app.trivy.json"
    carried.write_bytes(dump(report))
    signer = make_signer(tmp_path / "keys")
    media = tmp_path / "media"
    create_bundle(media, secret_key=signer.secret, image_archives=[archive], files=[carried],
                  kinds={carried: ItemKind.SCAN_REPORT}, name="app")
    home = tmp_path / "home"
    VulnDB(home).install(osv_zip(tmp_path / "osv.zip", [record("GHSA-h5c8-rqwp-cp95.json")]),
                         bundle_digest="sha256:" + "ab" * 32)
    result = subprocess.run(
        [sys.executable, "-m", "station.cli.main", "--home", str(home), "verify", str(media),
         "--trust", str(signer.trust), "--json"],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_a_carried_report_that_misses_a_finding_is_marked_as_disagreeing(tmp_path: Path) -> None:
    verdict = _verify(tmp_path, _trivy("registry.example.org/ops/app:1"))
    (image,) = verdict["checks"]["vulnerabilities"]["images"]
    assert image["reference"] == REFERENCE
    assert image["counts"] == {"MEDIUM": 1}
    assert [w["id"] for w in image["worst"]] == ["GHSA-h5c8-rqwp-cp95"]
    assert image["carried"] == [{"path": "reports/app.trivy.json", "tool": "Trivy",
                                 "counts": {}}]
    assert image["disagrees"] is True


def test_a_carried_report_that_agrees_and_one_about_another_image(tmp_path: Path) -> None:
    same = _trivy("app:1", ("CVE-2024-22195", "jinja2", "MEDIUM"))  # not this image's name
    verdict = _verify(tmp_path / "other", same)
    (image,) = verdict["checks"]["vulnerabilities"]["images"]
    assert image["carried"] == [] and image["disagrees"] is False

    agreeing = _trivy("registry.example.org/ops/app:1", ("CVE-2024-22195", "jinja2", "MEDIUM"))
    verdict = _verify(tmp_path / "same", agreeing)
    (image,) = verdict["checks"]["vulnerabilities"]["images"]
    assert [c["counts"] for c in image["carried"]] == [{"MEDIUM": 1}]
    assert image["disagrees"] is False
