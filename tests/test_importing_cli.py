"""`station import` as an operator or a script runs it: exit codes, JSON, staging cleaned."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from station.audit import AuditLog
from station.publish.bundle import create_bundle
from tests.builders import Signer, scripted_approvals
from tests.importing_builders import APP, DB, oci_archive

STATION = [sys.executable, "-m", "station.cli.main"]


def station(*args: str | Path, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "STATION_HOME": str(home)}
    env.pop("STATION_DEBUG", None)
    return subprocess.run(
        [*STATION, *map(str, args)], capture_output=True, text=True, env=env, timeout=120
    )


@pytest.fixture
def media(tmp_path: Path, signer: Signer) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    archive = oci_archive(work, work / "apps.tar", {APP: 3000, DB: 5000})
    (work / "notes.txt").write_text("release notes\n")
    out = tmp_path / "media"
    create_bundle(
        out, secret_key=signer.secret, files=[work / "notes.txt"], image_archives=[archive],
        name="apps",
    )
    return out


def test_import_into_the_store_prints_a_receipt_and_cleans_staging(
    tmp_path: Path, media: Path, signer: Signer
) -> None:
    home = tmp_path / "home"
    approvals = scripted_approvals(home, media)

    result = station(
        "import", media, "--trust", signer.trust, "--approvals", approvals, "--json", home=home
    )

    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["imported"] is True
    assert [a["operator"] for a in doc["approvals"]] == ["alice", "victor"]
    assert doc["verification"]["verdict"] == "accepted"
    receipt = doc["receipt"]
    assert receipt["target"] == "store"
    assert receipt["bundle_digest"] == doc["verification"]["bundle_digest"]
    assert sorted(r for i in receipt["images"] for r in i["references"]) == sorted([APP, DB])
    assert all(i["config_digest"].startswith("sha256:") for i in receipt["images"])
    assert [f["path"] for f in receipt["files"]] == ["files/notes.txt"]
    assert Path(receipt["files"][0]["where"]).read_text() == "release notes\n"
    assert doc["plan"]["steps"][0]["description"] == f"Put {APP} in the store"
    index = json.loads((home / "store" / "index.json").read_text())
    assert len(index["manifests"]) == 2
    assert not any((home / "staging").iterdir())


def test_a_rejected_bundle_exits_1_and_imports_nothing(
    tmp_path: Path, media: Path, signer: Signer
) -> None:
    archive = next((media / "images").iterdir())
    data = bytearray(archive.read_bytes())
    data[700] ^= 1
    archive.write_bytes(bytes(data))
    home = tmp_path / "home"

    result = station("import", media, "--trust", signer.trust, home=home)

    assert result.returncode == 1
    assert "Rejected: nothing was imported" in result.stdout
    assert not (home / "store" / "index.json").exists()


def test_an_unreachable_registry_exits_2_before_verifying(
    tmp_path: Path, media: Path, signer: Signer
) -> None:
    result = station(
        "import", media, "--trust", signer.trust, "--to", "registry=http://127.0.0.1:9",
        home=tmp_path / "home",
    )

    assert result.returncode == 2
    assert "station: error: the registry 127.0.0.1:9 does not answer" in result.stderr
    assert "station: what to do:" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unknown_target_is_a_usage_error(tmp_path: Path, media: Path, signer: Signer) -> None:
    result = station(
        "import", media, "--trust", signer.trust, "--to", "ftp", home=tmp_path / "home"
    )

    assert result.returncode == 2
    assert "unknown import target 'ftp'" in result.stderr


def test_without_two_approvals_nothing_is_imported(
    tmp_path: Path, media: Path, signer: Signer
) -> None:
    home = tmp_path / "home"
    result = station("import", media, "--trust", signer.trust, home=home)
    assert result.returncode == 2
    assert "two operators must approve the import" in result.stderr
    assert not (home / "store" / "index.json").exists()
    assert not any((home / "staging").iterdir())
    events = [r["event"] for r in AuditLog(home / "audit.log").records()]
    assert "verification" in events and events[-1] == "state-change"
    assert "abort" in events


def test_scripted_approvals_need_the_station_to_allow_them(
    tmp_path: Path, media: Path, signer: Signer
) -> None:
    home = tmp_path / "home"
    approvals = scripted_approvals(home, media)
    (home / "station.toml").write_text("[approval]\nallow_noninteractive = false\n")
    result = station(
        "import", media, "--trust", signer.trust, "--approvals", approvals, home=home
    )
    assert result.returncode == 1  # refused, like any other approval refusal
    assert "non-interactive approvals are not allowed" in result.stderr
    assert not (home / "store" / "index.json").exists()


def test_a_wrong_digest_suffix_stops_the_import(
    tmp_path: Path, media: Path, signer: Signer
) -> None:
    home = tmp_path / "home"
    approvals = scripted_approvals(home, media)
    entries = json.loads(approvals.read_text())
    entries[1]["digest_suffix"] = "00000000"
    approvals.write_text(json.dumps(entries))
    result = station(
        "import", media, "--trust", signer.trust, "--approvals", approvals, home=home
    )
    assert result.returncode == 1
    assert "not the last 8 of the bundle digest" in result.stderr
    assert not (home / "store" / "index.json").exists()
    refused = [r for r in AuditLog(home / "audit.log").records()
               if r["event"] == "approval-refused"]
    assert refused and refused[-1]["noninteractive"] is True
