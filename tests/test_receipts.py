"""Signed receipts for every transfer end, checked by the station's own command and by
independent DSSE implementations (securesystemslib's, and OpenSSL over PAE bytes this test
builds itself from the DSSE spec)."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from station.cli import main as cli
from station.station import Station
from station.workflow import TransferState
from tests.builders import Signer, app_bundle, make_sums_bundle
from tests.identity import ALICE, VICTOR, KeyedHome, keyed_home, open_with_operators


@pytest.fixture
def keyed(tmp_path: Path, signer: Signer) -> KeyedHome:
    return keyed_home(tmp_path, signer)


@pytest.fixture
def station(keyed: KeyedHome) -> Station:
    return open_with_operators(keyed)


@pytest.fixture
def media(tmp_path: Path, signer: Signer) -> Path:
    out = app_bundle(tmp_path, signer)
    (out / "notes.txt").write_text("not listed\n")
    return out


def _imported(station: Station, media: Path) -> Path:
    transfer = station.new_transfer(media)
    transfer.inspect()
    assert transfer.verify().accepted
    suffix = transfer.verification.bundle_digest[-8:]  # type: ignore[union-attr]
    transfer.approve(*ALICE)
    transfer.approve(*VICTOR, typed_suffix=suffix)
    transfer.import_into(station.targets()[0])
    assert transfer.state is TransferState.DONE
    assert "signed receipt" in transfer.message
    [receipt] = sorted((station.config.home / "receipts").iterdir())
    return receipt


def _pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 PAE, written here from the spec, not imported from the station."""
    kind = payload_type.encode()
    return b" ".join(
        [b"DSSEv1", str(len(kind)).encode(), kind, str(len(payload)).encode(), payload]
    )


def _statement(path: Path) -> dict:  # type: ignore[type-arg]
    doc = json.loads(path.read_text())
    return json.loads(base64.b64decode(doc["payload"]))


def test_an_import_leaves_a_receipt_with_everything_an_auditor_asks(
    station: Station, media: Path, keyed: KeyedHome
) -> None:
    path = _imported(station, media)
    digest_hex = path.name.split("-")[0]
    assert len(digest_hex) == 64 and path.name.endswith("Z.json")
    envelope = json.loads(path.read_text())
    assert envelope["payloadType"] == "application/vnd.in-toto+json"
    statement = _statement(path)
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["predicateType"] == "https://transfer-station.example/receipt/v1"
    predicate = statement["predicate"]
    assert predicate["outcome"] == "imported"
    assert predicate["bundle"]["digest"] == "sha256:" + digest_hex
    assert predicate["bundle"]["name"] == "app"
    assert predicate["verdict"]["verdict"] == "accepted"
    assert [w["code"] for w in predicate["verdict"]["warnings"]]  # the unlisted notes.txt
    assert [s["name"] for s in predicate["signers"]] == ["alice"]
    assert [(a["operator"], a["order"]) for a in predicate["approvals"]] == [
        ("alice", 1), ("victor", 2)]
    [image] = predicate["landed"]["images"]
    assert image["references"] == ["registry.example.org/ops/app:1.0"]
    assert image["manifest_digest"].startswith("sha256:")
    names = [s["name"] for s in statement["subject"]]
    assert "bundle:app" in names and "registry.example.org/ops/app:1.0" in names
    # The audit position it names is the final state change, and the receipt is on record.
    records = {r["seq"]: r for r in station.audit.intact_records()}
    named = records[predicate["audit"]["seq"]]
    assert named["hash"] == predicate["audit"]["head"] and named["state"] == "done"
    written = [r for r in records.values() if r["event"] == "receipt-written"]
    assert written and written[-1]["path"] == str(path)
    assert list(records.values())[-1]["event"] == "checkpoint"  # the transfer end's checkpoint

    assert cli.main(["receipt", "verify", str(path), "--station-key", str(keyed.public)]) == 0


def test_receipts_verify_with_securesystemslib_and_openssl(
    station: Station, media: Path, keyed: KeyedHome, tmp_path: Path
) -> None:
    from cryptography.hazmat.primitives.serialization import load_pem_public_key
    from securesystemslib.dsse import Envelope
    from securesystemslib.signer import SSlibKey

    path = _imported(station, media)
    doc = json.loads(path.read_text())
    envelope = Envelope.from_dict(json.loads(path.read_text()))  # it consumes its input
    key = SSlibKey.from_crypto(
        load_pem_public_key(keyed.public.read_bytes()), keyid=doc["signatures"][0]["keyid"]
    )
    accepted = envelope.verify([key], 1)
    assert list(accepted) == [key.keyid]

    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    pae = tmp_path / "pae.bin"
    pae.write_bytes(_pae(doc["payloadType"], base64.b64decode(doc["payload"])))
    sig = tmp_path / "sig.bin"
    sig.write_bytes(base64.b64decode(doc["signatures"][0]["sig"]))
    openssl = ["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", str(keyed.public),
               "-rawin", "-in", str(pae), "-sigfile", str(sig)]
    result = subprocess.run(openssl, capture_output=True, text=True, check=False)
    assert result.returncode == 0 and "Signature Verified Successfully" in result.stdout
    pae.write_bytes(pae.read_bytes().replace(b'"outcome":"imported"', b'"outcome":"rejected"'))
    assert subprocess.run(openssl, capture_output=True, check=False).returncode != 0


def test_a_rejected_transfer_gets_a_receipt_with_every_reason(
    station: Station, tmp_path: Path, keyed: KeyedHome
) -> None:
    media = make_sums_bundle(tmp_path / "unsigned", {"a": b"1", "b": b"2"}, signer=None)
    transfer = station.new_transfer(media)
    transfer.inspect()
    assert not transfer.verify().accepted
    [path] = (keyed.home / "receipts").iterdir()
    predicate = _statement(path)["predicate"]
    assert predicate["outcome"] == "rejected" and predicate["landed"] is None
    codes = [r["code"] for r in predicate["verdict"]["reasons"]]
    assert codes == [p.code for p in transfer.verification.problems]  # type: ignore[union-attr]
    assert codes[0] == "unsigned"
    assert predicate["approvals"] == [] and predicate["signers"] == []
    assert cli.main(["receipt", "verify", str(path), "--station-key", str(keyed.public)]) == 0


def test_an_aborted_transfer_gets_a_receipt_with_the_reason(
    station: Station, media: Path, keyed: KeyedHome, capsys: pytest.CaptureFixture[str]
) -> None:
    transfer = station.new_transfer(media)
    transfer.inspect()
    transfer.abort("the media was removed")
    [path] = (keyed.home / "receipts").iterdir()
    predicate = _statement(path)["predicate"]
    assert predicate["outcome"] == "aborted"
    assert predicate["abort_reason"] == "the media was removed"
    assert predicate["verdict"] is None and predicate["bundle"]["name"] == "app"
    transfer.close()  # finishing again writes no second receipt
    assert len(list((keyed.home / "receipts").iterdir())) == 1

    assert cli.main(["receipt", "show", str(path)]) == 0
    shown = capsys.readouterr().out
    assert "aborted" in shown and "NOT checked" in shown
    assert cli.main(["receipt", "verify", str(path), "--station-key", str(keyed.public),
                     "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["valid"] is True and result["outcome"] == "aborted"
    assert result["predicate_type"] == "https://transfer-station.example/receipt/v1"


def test_verify_refuses_a_changed_receipt_or_another_key(
    station: Station, media: Path, keyed: KeyedHome, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], signer: Signer,
) -> None:
    path = _imported(station, media)
    doc = json.loads(path.read_text())
    payload = base64.b64decode(doc["payload"]).replace(b'"alice"', b'"mallory"')
    doc["payload"] = base64.b64encode(payload).decode()
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(doc))
    assert cli.main(["receipt", "verify", str(forged), "--station-key", str(keyed.public)]) == 1
    assert "INVALID" in capsys.readouterr().out

    other = keyed_home(tmp_path / "other", signer)
    assert cli.main(["receipt", "verify", str(path), "--station-key", str(other.public)]) == 1
    assert cli.main(["receipt", "verify", str(tmp_path / "nope.json"),
                     "--station-key", str(keyed.public)]) == 2
    assert cli.main(["receipt", "verify", str(path), "--station-key", str(path)]) == 2


def test_a_receipt_that_cannot_be_signed_never_fails_the_import(
    station: Station, media: Path, keyed: KeyedHome
) -> None:
    (keyed.signer_dir / "station.key").unlink()  # the key is gone: signing fails
    transfer = station.new_transfer(media)
    transfer.inspect()
    transfer.verify()
    suffix = transfer.verification.bundle_digest[-8:]  # type: ignore[union-attr]
    transfer.approve(*ALICE)
    transfer.approve(*VICTOR, typed_suffix=suffix)
    states: list[str] = []
    transfer.add_listener(lambda event: states.append(event.message))
    transfer.import_into(station.targets()[0])
    assert transfer.state is TransferState.DONE  # imported it is, receipt or not
    assert "NO SIGNED RECEIPT" in transfer.message and "NO SIGNED RECEIPT" in states[-1]
    events = [r["event"] for r in station.audit.intact_records()]
    assert "receipt-failed" in events and "checkpoint-failed" in events
    failed = [r for r in station.audit.intact_records() if r["event"] == "receipt-failed"]
    assert "station.key" in failed[-1]["reason"]
    assert not (keyed.home / "receipts").exists()
