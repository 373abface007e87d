"""`station inspect` shows what the SBOMs and scan reports on the media say, marked unverified."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from station.bundle.model import ItemKind
from station.publish.bundle import create_bundle
from tests.builders import make_signer, make_sums_bundle
from tests.report_samples import CYCLONEDX, IMAGE, TRIVY, dump
from tests.test_cli import station

ITEM_FIELDS = {"path", "kind", "size", "references", "files", "images", "description"}


def inspect(*args: str | Path, home: Path) -> subprocess.CompletedProcess[str]:
    return station("inspect", *args, home=home)


def test_text_and_json_show_counts_and_packages(tmp_path: Path) -> None:
    media = make_sums_bundle(tmp_path / "media", {
        "reports/trivy.json": dump(TRIVY),
        "sbom/alpine.cdx.json": dump(CYCLONEDX),
        "notes.txt": b"hello\n",
    })
    text = inspect(media, home=tmp_path)
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    at = lines.index(next(line for line in lines if "[scan-report] reports/trivy.json" in line))
    assert lines[at + 1:at + 3] == [
        f"      Trivy report on {IMAGE} (from the media, not yet verified)",
        "      7 vulnerabilities: CRITICAL 1, HIGH 2, MEDIUM 2, LOW 1, UNKNOWN 1",
    ]
    assert (f"      CycloneDX 1.5 SBOM of {IMAGE} (from the media, not yet verified)"
            in lines)
    assert ("      14 packages: alpine-baselayout, alpine-keys, apk-tools, busybox, "
            "ca-certificates-bundle and 9 more") in lines

    result = inspect(media, "--json", home=tmp_path)
    assert result.returncode == 0, result.stderr
    items = {item["path"]: item for item in json.loads(result.stdout)["items"]}
    assert all(set(item) == {*ITEM_FIELDS, "summary"} for item in items.values())
    assert items["notes.txt"]["summary"] is None
    report = items["reports/trivy.json"]
    assert report["kind"] == "scan-report" and report["size"] is None
    assert report["summary"] == {
        "type": "scan-report", "verified": False, "tool": "Trivy", "artifact": IMAGE,
        "vulnerabilities": 7,
        "counts": {"CRITICAL": 1, "HIGH": 2, "MEDIUM": 2, "LOW": 1, "UNKNOWN": 1},
    }
    sbom = items["sbom/alpine.cdx.json"]["summary"]
    assert sbom["type"] == "sbom" and sbom["packages"] == 14 and sbom["verified"] is False
    assert sbom["package_names"][-1] == "alpine"


def test_a_report_swapped_for_garbage_is_a_note_not_an_error(tmp_path: Path) -> None:
    signer = make_signer(tmp_path)
    sbom = tmp_path / "alpine.cdx.json"
    sbom.write_bytes(dump(CYCLONEDX))
    media = tmp_path / "media"
    create_bundle(media, secret_key=signer.secret, files=[sbom], name="alpine",
                  kinds={sbom: ItemKind.SBOM})
    (media / "sbom" / "alpine.cdx.json").write_bytes(b"\x00garbage")

    text = inspect(media, home=tmp_path)
    assert text.returncode == 0, text.stderr
    assert "      cannot read: sbom/alpine.cdx.json: not JSON" in text.stdout
    assert "Traceback" not in text.stderr

    (media / "sbom" / "alpine.cdx.json").unlink()
    (media / "sbom" / "alpine.cdx.json").symlink_to("/etc/passwd")
    result = inspect(media, "--json", home=tmp_path)
    assert result.returncode == 0, result.stderr
    (item,) = json.loads(result.stdout)["items"]
    assert item["summary"]["type"] == "unreadable"
    assert "symbolic link" in item["summary"]["error"]
