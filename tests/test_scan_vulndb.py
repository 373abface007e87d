"""The OSV database: strict export reading, install, never going back, status."""

from __future__ import annotations

import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from station.scan.errors import NotAnExport, OlderExport
from station.scan.osv import is_osv_export
from station.scan.vulndb import VulnDB
from tests.scan_builders import osv_zip, record

DIGEST_A = "sha256:" + "aa" * 32
DIGEST_B = "sha256:" + "bb" * 32
NOW = datetime(2026, 7, 18, tzinfo=UTC)


def test_export_is_recognised_by_content_not_name(tmp_path: Path) -> None:
    export = osv_zip(tmp_path / "anything.bin", [record("DLA-3008-1.json")])
    assert is_osv_export(export)
    other = tmp_path / "all.zip"
    with zipfile.ZipFile(other, "w") as archive:
        archive.writestr("package.json", '{"name": "x"}')
    assert not is_osv_export(other)
    (tmp_path / "not-a-zip.zip").write_bytes(b"PK\x03\x04 nothing")
    assert not is_osv_export(tmp_path / "not-a-zip.zip")
    assert not VulnDB.is_osv_export(tmp_path / "missing.zip")


@pytest.mark.parametrize(
    ("member", "data", "why"),
    [
        ("x.json", b'{"id": "A", "id": "B", "modified": "2024-01-01T00:00:00Z"}', "duplicate"),
        ("x.json", b'{"id": "A", "modified": "yesterday"}', "RFC 3339"),
        ("x.json", b'{"id": "A", "modified": "2024-01-01T00:00:00"}', "time zone"),
        ("x.json", b'{"id": "A", "modified": "2024-01-01T00:00:00Z", "affected": [{"package":'
                   b' {"ecosystem": "PyPI", "name": "a"}, "ranges": [{"type": "RANGE",'
                   b' "events": [{"introduced": "0"}]}]}]}', "not ECOSYSTEM"),
        ("x.json", b'{"id": "A", "modified": "2024-01-01T00:00:00Z", "affected": [{"package":'
                   b' {"ecosystem": "PyPI", "name": "a"}, "ranges": [{"type": "ECOSYSTEM",'
                   b' "events": [{"introduced": "0", "fixed": "1"}]}]}]}', "exactly one"),
        ("x.json", b"[" * 100_000, "nested too deeply"),
        ("notes.txt", b"hello", "not a JSON record"),
    ],
)
def test_a_record_that_cannot_be_read_refuses_the_whole_export(
    tmp_path: Path, member: str, data: bytes, why: str
) -> None:
    export = osv_zip(tmp_path / "e.zip", [record("GHSA-h5c8-rqwp-cp95.json")])
    with zipfile.ZipFile(export, "a") as archive:
        archive.writestr(member, data)
    db = VulnDB(tmp_path / "home")
    with pytest.raises(NotAnExport, match=why):
        db.install(export, bundle_digest=DIGEST_A)
    assert not db.status().installed


def test_a_zip_bomb_member_is_refused_before_it_is_read(tmp_path: Path) -> None:
    export = tmp_path / "bomb.zip"
    with zipfile.ZipFile(export, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("BIG.json", b" " * (9 * 1024 * 1024))
    with pytest.raises(NotAnExport, match="over the limit"):
        VulnDB(tmp_path / "home").install(export, bundle_digest=DIGEST_A)


def test_install_and_status_per_ecosystem(tmp_path: Path) -> None:
    db = VulnDB(tmp_path / "home")
    debian = osv_zip(tmp_path / "Debian-all.zip", [record("DLA-3008-1.json"),
                                                    record("DLA-3051-1.json")])
    pypi = osv_zip(tmp_path / "PyPI-all.zip", [record("PYSEC-2023-62.json"),
                                                record("PYSEC-2021-63.json"),
                                                record("GHSA-h5c8-rqwp-cp95.json")])
    first = db.install(debian, bundle_digest=DIGEST_A, now=NOW)
    assert [(e.name, e.records) for e in first.installed] == [("Debian", 2)]
    db.install(pypi, bundle_digest=DIGEST_B, now=NOW)
    status = db.status(NOW).to_json()
    by_name = {e["name"]: e for e in status["ecosystems"]}
    assert by_name["Debian"] == {
        "name": "Debian", "records": 2, "newest": "2026-03-09T01:23:33.375630Z",
        "age_days": 130, "bundle_digest": DIGEST_A, "installed_at": "2026-07-18T00:00:00Z"}
    assert by_name["PyPI"]["records"] == 3  # the withdrawn record counts, it never matches
    assert by_name["PyPI"]["newest"] == "2024-01-11T15:20:48Z"
    assert by_name["PyPI"]["bundle_digest"] == DIGEST_B
    # The database as a whole is only as current as its stalest part.
    assert status["newest"] == "2024-01-11T15:20:48Z"
    assert status["age_days"] == (NOW - datetime(2024, 1, 11, 15, 20, 48, tzinfo=UTC)).days
    assert db.lookup("PyPI", ["cryptography"]) == {}
    assert [h.record_id for h in db.lookup("PyPI", ["Jinja2"])["jinja2"]] == [
        "GHSA-h5c8-rqwp-cp95"]


def test_an_older_export_never_replaces_a_newer_one(tmp_path: Path) -> None:
    db = VulnDB(tmp_path / "home")
    newer = osv_zip(tmp_path / "newer.zip", [record("DLA-3008-1.json"), record("DLA-3051-1.json")])
    older = osv_zip(tmp_path / "older.zip", [record("DLA-3051-1.json")])  # newest 2025-05-26
    db.install(newer, bundle_digest=DIGEST_A)
    before = (db.root / "Debian.sqlite").read_bytes()
    with pytest.raises(OlderExport, match="older than the installed one"):
        db.install(older, bundle_digest=DIGEST_B)
    assert (db.root / "Debian.sqlite").read_bytes() == before
    assert db.status().get("Debian").bundle_digest == DIGEST_A  # type: ignore[union-attr]
    assert sorted(p.name for p in db.root.iterdir()) == [".lock", "Debian.sqlite"]
    # The same export again, or a newer one, is fine.
    db.install(newer, bundle_digest=DIGEST_B)
    later = dict(record("DLA-3051-1.json"), modified="2026-06-01T00:00:00Z")
    result = db.install(osv_zip(tmp_path / "later.zip", [later]), bundle_digest=DIGEST_A)
    assert result.replaced[0].records == 2 and result.installed[0].records == 1


def test_a_damaged_database_file_is_an_error_with_a_hint(tmp_path: Path) -> None:
    db = VulnDB(tmp_path / "home")
    db.install(osv_zip(tmp_path / "e.zip", [record("DLA-3008-1.json")]), bundle_digest=DIGEST_A)
    (db.root / "Debian.sqlite").write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(Exception, match="cannot read the vulnerability database") as caught:
        db.status()
    assert "install the OSV export again" in str(caught.value)


def test_export_members_are_json_records_one_per_file(tmp_path: Path) -> None:
    export = osv_zip(tmp_path / "e.zip", [record("ALPINE-CVE-2025-26519.json")])
    with zipfile.ZipFile(export) as archive:
        (name,) = archive.namelist()
        assert json.loads(archive.read(name))["id"] == "ALPINE-CVE-2025-26519"
