"""`station scan` and `station vulndb` as a site's scripts see them: exit codes and JSON."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from cyclonedx.model.bom import Bom
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from station.audit import AuditLog
from tests.importing_builders import sign_media
from tests.scan_builders import (
    build_image,
    dpkg_stanza,
    os_release,
    osv_zip,
    real_dist_info,
    record,
    with_version,
)
from tests.test_cli import station


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    path = tmp_path / "oci"
    build_image(path, "docker.io/library/app:1", [
        {"etc/os-release": os_release("debian", "9"),
         "var/lib/dpkg/status": (dpkg_stanza("libssl1.1", "1.1.0l-1~deb9u5", "openssl")
                                 + "\n" + dpkg_stanza("tzdata", "2021a-0+deb9u4")).encode()},
        with_version(real_dist_info("jinja2"), "3.1.2"),
    ], compression=["zstd", "gzip"])
    return path


def install(home: Path, tmp_path: Path) -> None:
    export = osv_zip(tmp_path / "Debian-all.zip", [record("DLA-3008-1.json"),
                                                   record("DLA-3051-1.json")])
    result = station("vulndb", "install", export, home=home)
    assert result.returncode == 0, result.stderr
    pypi = osv_zip(tmp_path / "PyPI-all.zip", [record("GHSA-h5c8-rqwp-cp95.json")])
    assert station("vulndb", "install", pypi, home=home).returncode == 0


def test_scan_without_a_database_exits_2(home: Path, layout: Path) -> None:
    result = station("scan", f"oci:{layout}", "--json", home=home)
    assert result.returncode == 2
    assert "no vulnerability database is installed" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_vulndb_status_json_fields(home: Path, tmp_path: Path) -> None:
    empty = station("vulndb", "status", "--json", home=home)
    assert empty.returncode == 0
    assert json.loads(empty.stdout) == {"ecosystems": [], "newest": None, "age_days": None}
    install(home, tmp_path)
    doc = json.loads(station("vulndb", "status", "--json", home=home).stdout)
    assert set(doc) == {"ecosystems", "newest", "age_days"}
    assert [(e["name"], e["records"], e["newest"]) for e in doc["ecosystems"]] == [
        ("Debian", 2, "2026-03-09T01:23:33.375630Z"), ("PyPI", 1, "2024-01-11T15:20:48Z")]
    for entry in doc["ecosystems"]:
        assert set(entry) == {"name", "records", "newest", "age_days", "bundle_digest",
                              "installed_at"}
        assert entry["bundle_digest"] is None  # installed by an admin, not from a bundle
        assert isinstance(entry["age_days"], int) and entry["age_days"] > 0
    text = station("vulndb", "status", home=home).stdout
    assert "Debian" in text and "(installed by an admin)" in text
    (event,) = [r for r in AuditLog(home / "audit.log").records()
                if r.get("action") == "vulndb-installed"][:1]
    assert event["event"] == "admin-action"


def test_vulndb_install_refuses_what_is_not_an_export(home: Path, tmp_path: Path) -> None:
    (tmp_path / "x.zip").write_bytes(b"not a zip")
    result = station("vulndb", "install", tmp_path / "x.zip", home=home)
    assert result.returncode == 2 and "is not an OSV export" in result.stderr


def test_scan_json_shape_and_sbom(home: Path, layout: Path, tmp_path: Path) -> None:
    install(home, tmp_path)
    sbom = tmp_path / "sbom.json"
    result = station("scan", f"oci:{layout}:docker.io/library/app:1", "--json", "--sbom", sbom,
                     home=home)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert set(doc) == {"db", "images"}
    assert set(doc["db"]) == {"ecosystems", "newest", "age_days"}
    (image,) = doc["images"]
    assert set(image) == {"reference", "config_digest", "packages", "vulnerabilities", "distro",
                          "problems"}
    assert image["reference"] == "docker.io/library/app:1"
    assert image["packages"] == 3 and image["distro"] == "Debian:9" and image["problems"] == []
    assert image["vulnerabilities"] == [
        {"id": "GHSA-h5c8-rqwp-cp95", "aliases": ["CVE-2024-22195"], "package": "Jinja2",
         "ecosystem": "PyPI", "installed": "3.1.2", "fixed": "3.1.3", "severity": "MEDIUM"},
        {"id": "DLA-3008-1", "aliases": ["CVE-2022-1292", "DEBIAN-CVE-2022-1292"],
         "package": "libssl1.1", "ecosystem": "Debian:9", "installed": "1.1.0l-1~deb9u5",
         "fixed": "1.1.0l-1~deb9u6", "severity": "UNKNOWN"},
    ]
    text = sbom.read_text()
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    bom = Bom.from_json(json.loads(text))  # type: ignore[attr-defined]
    (container,) = bom.components
    assert container.name == "docker.io/library/app:1"
    assert {(c.name, c.version, str(c.purl)) for c in container.components} == {
        ("libssl1.1", "1.1.0l-1~deb9u5",
         "pkg:deb/debian/libssl1.1@1.1.0l-1~deb9u5?distro=debian-9&upstream=openssl"),
        ("tzdata", "2021a-0+deb9u4", "pkg:deb/debian/tzdata@2021a-0%2Bdeb9u4?distro=debian-9"),
        ("Jinja2", "3.1.2", "pkg:pypi/jinja2@3.1.2"),  # purl's own normalisation
    }
    plain = station("scan", f"oci:{layout}", home=home)
    assert plain.returncode == 0
    assert "MEDIUM   GHSA-h5c8-rqwp-cp95  Jinja2 3.1.2 (fixed in 3.1.3)" in plain.stdout


def test_unknown_reference_and_a_folder_without_a_bundle_exit_2(
    home: Path, layout: Path, tmp_path: Path
) -> None:
    install(home, tmp_path)
    missing = station("scan", f"oci:{layout}:nope:1", home=home)
    assert missing.returncode == 2 and "holds no image 'nope:1'" in missing.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    media = station("scan", empty, home=home)
    assert media.returncode == 2
    assert "no bundle.json or SHA256SUMS" in media.stderr


def test_media_is_scanned_as_verified_and_a_rejected_bundle_is_not(
    home: Path, layout: Path, tmp_path: Path
) -> None:
    install(home, tmp_path)
    media = tmp_path / "media"
    shutil.copytree(layout, media / "image")
    trust = sign_media(media)
    shutil.copytree(trust, home / "trust", dirs_exist_ok=True)

    scanned = station("scan", media, "--json", home=home)

    assert scanned.returncode == 0, scanned.stderr
    (image,) = json.loads(scanned.stdout)["images"]
    assert image["reference"] == "docker.io/library/app:1"
    assert "GHSA-h5c8-rqwp-cp95" in {v["id"] for v in image["vulnerabilities"]}
    assert not list((home / "scratch").iterdir())  # the verified copy is gone afterwards

    (media / "image" / "index.json").write_text("{}")  # no longer what was signed
    rejected = station("scan", media, home=home)
    assert rejected.returncode == 1
    assert "rejected, so it is not scanned" in rejected.stderr


def test_scan_store_reports_what_is_newly_vulnerable_and_audits_it(
    home: Path, layout: Path, tmp_path: Path
) -> None:
    # The store is an OCI layout of the same shape; put the image there as an import would.
    store = home / "store"
    build_image(store, "docker.io/library/app:1", [
        {"etc/os-release": os_release("debian", "9"),
         "var/lib/dpkg/status": dpkg_stanza("tzdata", "2021a-0+deb9u3").encode()}])
    first_db = osv_zip(tmp_path / "first.zip", [record("GHSA-h5c8-rqwp-cp95.json")])
    assert station("vulndb", "install", first_db, home=home).returncode == 0
    first = json.loads(station("scan", "store", "--json", home=home).stdout)
    assert first["newly_vulnerable"] == []
    # A newer database arrives: the imported image turns out to be vulnerable.
    newer = osv_zip(tmp_path / "Debian.zip", [record("DLA-3051-1.json")])
    assert station("vulndb", "install", newer, home=home).returncode == 0
    second = station("scan", "store", "--json", home=home)
    assert second.returncode == 0, second.stderr
    (found,) = json.loads(second.stdout)["newly_vulnerable"]
    assert (found["id"], found["package"], found["reference"]) == (
        "DLA-3051-1", "tzdata", "docker.io/library/app:1")
    again = json.loads(station("scan", "store", "--json", home=home).stdout)
    assert again["newly_vulnerable"] == []
    scans = [r for r in AuditLog(home / "audit.log").records() if r["event"] == "store-scan"]
    assert [r["newly_count"] for r in scans] == [0, 1, 0]
    assert scans[1]["newly_vulnerable"][0]["id"] == "DLA-3051-1"
    assert AuditLog(home / "audit.log").verify().ok
