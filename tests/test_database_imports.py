"""Databases cross like any bundle: a signed, approved import installs them, audited.

An OSV export in a bundle is recognised by content and installed into the vulnerability
database by the import (never by verification alone); an older export that arrives later is
delivered as a file but refused by the database, with the reason on record and in the
transfer's warnings.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from station.audit import AuditLog
from tests.builders import make_signer, make_sums_bundle, scripted_approvals
from tests.scan_builders import osv_zip, record

ROOT = Path(__file__).parents[1]


def _import(home: Path, media: Path, trust: Path) -> subprocess.CompletedProcess[str]:
    approvals = scripted_approvals(home, media)
    return subprocess.run(
        [sys.executable, "-m", "station.cli.main", "--home", str(home), "import", str(media),
         "--trust", str(trust), "--approvals", str(approvals), "--json"],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )


def _status(home: Path) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-m", "station.cli.main", "--home", str(home), "vulndb", "status",
         "--json"], capture_output=True, text=True, cwd=ROOT, check=True,
    )
    doc: dict[str, object] = json.loads(result.stdout)
    return doc


def test_an_osv_export_in_a_bundle_is_installed_by_the_import(tmp_path: Path) -> None:
    signer = make_signer(tmp_path)
    export = osv_zip(tmp_path / "all.zip", [record("DLA-3008-1.json"), record("DLA-3051-1.json")])
    media = make_sums_bundle(tmp_path / "media", {"osv/Debian-all.zip": export.read_bytes()},
                             signer)
    home = tmp_path / "home"

    verified_only = subprocess.run(
        [sys.executable, "-m", "station.cli.main", "--home", str(home), "verify", str(media),
         "--trust", str(signer.trust)], capture_output=True, text=True, cwd=ROOT, check=False)
    assert verified_only.returncode == 0, verified_only.stderr
    assert _status(home)["ecosystems"] == []  # verifying installs nothing

    result = _import(home, media, signer.trust)

    assert result.returncode == 0, result.stderr
    (ecosystem,) = _status(home)["ecosystems"]  # type: ignore[misc]
    assert ecosystem["name"] == "Debian" and ecosystem["records"] == 2  # type: ignore[index]
    digest = json.loads(result.stdout)["verification"]["bundle_digest"]
    assert ecosystem["bundle_digest"] == digest  # type: ignore[index]
    installed = [r for r in AuditLog(home / "audit.log").records()
                 if r["event"] == "database-installed"]
    assert [(r["kind"], r["digest"]) for r in installed] == [("vulndb", digest)]


def test_an_older_export_is_delivered_but_not_installed(tmp_path: Path) -> None:
    signer = make_signer(tmp_path)
    home = tmp_path / "home"
    newer = osv_zip(tmp_path / "new.zip", [record("DLA-3008-1.json"), record("DLA-3051-1.json")])
    stale = dict(record("DLA-3008-1.json"), modified="2020-01-01T00:00:00Z")
    older = osv_zip(tmp_path / "old.zip", [stale])
    first = make_sums_bundle(tmp_path / "one", {"Debian-all.zip": newer.read_bytes()}, signer)
    assert _import(home, first, signer.trust).returncode == 0
    second = make_sums_bundle(tmp_path / "two", {"Debian-all.zip": older.read_bytes()}, signer)

    result = _import(home, second, signer.trust)

    assert result.returncode == 0, result.stderr
    assert "not installed" in result.stderr
    (ecosystem,) = _status(home)["ecosystems"]  # type: ignore[misc]
    assert ecosystem["records"] == 2  # the newer export stays  # type: ignore[index]
    refused = [r for r in AuditLog(home / "audit.log").records()
               if r["event"] == "database-refused"]
    assert len(refused) == 1 and refused[0]["kind"] == "vulndb"
