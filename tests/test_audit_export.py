"""An auditor's export: one signed file, checked offline with the station key only; and the
signing helper signs only what the station defines, checked against the log."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import pytest

from station.cli import main as cli
from station.errors import StationError
from station.media import helper
from station.signer_checks import check_and_sign
from station.signing import (
    CHECKPOINT_PAYLOAD,
    EXPORT_PAYLOAD,
    SignerPaths,
    canonical_payload,
)
from station.station import Station
from tests.builders import Signer
from tests.identity import KeyedHome, keyed_home


@pytest.fixture(autouse=True)
def only_audit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "COMMAND_MODULES", {"audit": "station.cli.audit"})


@pytest.fixture
def keyed(tmp_path: Path, signer: Signer) -> KeyedHome:
    keyed = keyed_home(tmp_path, signer, checkpoint_every=4)
    station = Station.open(keyed.home)
    for step in range(9):
        station.audit.append("import-step", actor="rig", step=step)
    return keyed


def test_export_and_verify_offline(
    keyed: KeyedHome, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "export.json"
    home = ["--home", str(keyed.home)]
    assert cli.main([*home, "audit", "export", "--since", "2000-01-01", str(out)]) == 0
    assert "signed by the station key" in capsys.readouterr().out
    assert cli.main([*home, "audit", "export", "--since", "2000-01-01", str(out)]) == 2
    capsys.readouterr()
    # Offline: no station home at all, only the file and the public key.
    verify = ["audit", "verify-export", str(out), "--station-key", str(keyed.public)]
    assert cli.main([*verify, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["ok"] and result["first_seq"] == 1 and result["checkpoints"] >= 2
    payload = json.loads(base64.b64decode(json.loads(out.read_text())["payload"]))
    assert payload["latest_checkpoint"]["payloadType"] == CHECKPOINT_PAYLOAD
    assert [r["seq"] for r in payload["records"]] == list(range(1, result["last_seq"] + 1))

    doc = json.loads(out.read_text())
    body = base64.b64decode(doc["payload"]).replace(b'"step":3', b'"step":4')
    doc["payload"] = base64.b64encode(body).decode()
    out.write_text(json.dumps(doc))
    assert cli.main(verify) == 1
    assert "not signed by the station key" in capsys.readouterr().err


def test_an_empty_period_is_a_valid_empty_export(
    keyed: KeyedHome, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "future.json"
    assert cli.main(["--home", str(keyed.home), "audit", "export", "--since", "2999-01-01",
                     str(out)]) == 0
    assert "0 records" in capsys.readouterr().out


def test_the_signer_signs_only_the_logs_own_records(keyed: KeyedHome) -> None:
    paths = SignerPaths(keyed.home, keyed.signer_dir)
    from station.audit import AuditLog

    records = AuditLog(keyed.log).intact_records()
    last = records[-1]
    doc = {"_type": "https://transfer-station.example/audit-export/v1", "records": records,
           "receipts": [], "log": {"count": last["seq"], "head": last["hash"]}}
    check_and_sign(EXPORT_PAYLOAD, canonical_payload(doc), paths)  # the log's own: signed
    records[2] = {**records[2], "actor": "eve"}
    with pytest.raises(StationError, match="is not the log's"):
        check_and_sign(EXPORT_PAYLOAD, canonical_payload(doc), paths)


@pytest.mark.parametrize(
    ("payload_type", "payload", "reason"),
    [
        ("text/plain", b"anything at all", "does not sign"),
        (CHECKPOINT_PAYLOAD, b'{"count": 1}', "not one canonical JSON object"),
        (CHECKPOINT_PAYLOAD, b'{"count":1,"count":2}', "repeats a key"),
        (CHECKPOINT_PAYLOAD, canonical_payload({"_type": "x", "count": 1, "head": "h",
                                                "time": "t"}), "not a checkpoint"),
        (CHECKPOINT_PAYLOAD, canonical_payload(
            {"_type": "https://transfer-station.example/audit-checkpoint/v1", "count": 2,
             "head": "sha256:" + "0" * 64, "time": "t"}), "has no record 2"),
        ("application/vnd.in-toto+json", canonical_payload(
            {"_type": "https://in-toto.io/Statement/v1", "subject": [{"name": "x"}],
             "predicateType": "https://transfer-station.example/receipt/v1",
             "predicate": {"audit": {"seq": 1, "head": "sha256:" + "1" * 64}}}),
         "has no record 1"),
    ],
)
def test_the_helper_refuses_what_the_station_does_not_sign(
    keyed: KeyedHome, payload_type: str, payload: bytes, reason: str,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    stdin = io.TextIOWrapper(io.BytesIO(payload))
    monkeypatch.setattr("sys.stdin", stdin)
    code = helper.main(["--home", str(keyed.home), "--signer-dir", str(keyed.signer_dir),
                        "sign", payload_type])
    assert code == 1
    assert reason in capsys.readouterr().err


def test_the_helper_signs_a_checkpoint_of_the_real_log(
    keyed: KeyedHome, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from station.audit import AuditLog
    from station.signing import Envelope, load_public_key, verify_envelope

    seq, head = AuditLog(keyed.log).position()
    payload = canonical_payload({"_type": "https://transfer-station.example/audit-checkpoint/v1",
                                 "count": seq, "head": head, "time": "2026-01-01T00:00:00Z"})
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(payload)))
    assert helper.main(["--home", str(keyed.home), "--signer-dir", str(keyed.signer_dir),
                        "sign", CHECKPOINT_PAYLOAD]) == 0
    envelope = Envelope.from_bytes(capsys.readouterr().out.encode())
    assert verify_envelope(envelope, load_public_key(keyed.public))
    assert keyed.anchor.read_bytes() == envelope.to_bytes()  # the root-owned anchor


def test_the_signer_paths_cannot_be_moved_through_sudo(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("SUDO_UID", "1000")
    for option in ("--home", "--signer-dir", "--export-base"):
        assert helper.main([option, str(tmp_path), "sign", CHECKPOINT_PAYLOAD]) == 2
        assert f"{option} is for direct root use only" in capsys.readouterr().err
