"""Signed checkpoints: every tampering the chain alone misses is found with the station key,
and the signer refuses to vouch for a log that lost what it signed before."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from station.audit import AuditLog, canonical, record_hash
from station.cli import main as cli
from station.signer_checks import CHECKPOINT_TYPE
from station.signing import CHECKPOINT_PAYLOAD, canonical_payload, sign_with_key
from station.station import Station
from tests.builders import Signer
from tests.identity import KeyedHome, keyed_home


@pytest.fixture(autouse=True)
def only_audit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "COMMAND_MODULES", {"audit": "station.cli.audit"})


@pytest.fixture
def keyed(tmp_path: Path, signer: Signer) -> KeyedHome:
    keyed = keyed_home(tmp_path, signer, checkpoint_every=5)
    station = Station.open(keyed.home)  # start-up checkpoint
    for step in range(12):
        station.audit.append("import-step", actor="rig", step=step)
    station.audit.checkpoint()  # as at the end of a transfer: the log ends in a checkpoint
    return keyed


def _verify(keyed: KeyedHome, *extra: str) -> int:
    return cli.main(["--home", str(keyed.home), "audit", "verify", *extra])


def _with_key(keyed: KeyedHome, *extra: str) -> int:
    return _verify(keyed, "--station-key", str(keyed.public), *extra)


def _lines(keyed: KeyedHome) -> list[bytes]:
    return keyed.log.read_bytes().splitlines(keepends=True)


def _rechain(records: list[dict]) -> bytes:  # type: ignore[type-arg]
    """What someone with write access does: renumber and recompute every hash."""
    prev = "sha256:" + "0" * 64
    out = b""
    for seq, record in enumerate(records, start=1):
        record = {k: v for k, v in record.items() if k != "hash"}
        record.update(seq=seq, prev=prev)
        record["hash"] = record_hash(record)
        prev = record["hash"]
        out += canonical(record) + b"\n"
    return out


def test_an_intact_log_is_proven_and_says_how_far(
    keyed: KeyedHome, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _with_key(keyed) == 0
    out = capsys.readouterr().out
    records = AuditLog(keyed.log).verify().records
    assert f"signed proof reaches record {records} of {records}" in out
    assert str(keyed.anchor) in out
    AuditLog(keyed.log).append("login", actor="alice")  # after the last checkpoint
    assert _with_key(keyed, "--json") == 0
    proof = json.loads(capsys.readouterr().out)["proof"]
    assert proof["proven"] and proof["unproven_records"] == 1
    assert proof["checkpoints"] >= 4


@pytest.mark.parametrize(
    "tamper",
    ["truncate", "empty", "delete-last-line", "rewrite-recomputed", "rewrite-without-checkpoints",
     "forged-checkpoint", "edited-checkpoint-payload"],
)
def test_each_tampering_passes_the_chain_but_not_the_station_key(
    keyed: KeyedHome, tamper: str, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = _lines(keyed)
    records = [json.loads(line) for line in lines]
    if tamper == "truncate":
        keyed.log.write_bytes(b"".join(lines[:-4]))
    elif tamper == "empty":
        keyed.log.write_bytes(b"")
    elif tamper == "delete-last-line":
        keyed.log.write_bytes(b"".join(lines[:-1]))
    elif tamper == "rewrite-recomputed":
        records[4]["step"] = 99  # change one record, recompute the chain after it
        keyed.log.write_bytes(_rechain(records))
    elif tamper == "rewrite-without-checkpoints":
        kept = [r for r in records if r["event"] != "checkpoint"]
        kept[3]["actor"] = "eve"
        keyed.log.write_bytes(_rechain(kept))
    elif tamper == "forged-checkpoint":
        kept = [r for r in records if r["event"] != "checkpoint"]
        kept[3]["actor"] = "eve"
        forged = Ed25519PrivateKey.generate()  # not the station's key
        body = _rechain(kept)
        last = json.loads(body.splitlines()[-1])
        payload = canonical_payload({"_type": CHECKPOINT_TYPE, "count": last["seq"],
                                     "head": last["hash"], "time": "2026-01-01T00:00:00+00:00"})
        envelope = sign_with_key(forged, CHECKPOINT_PAYLOAD, payload)
        kept.append({"event": "checkpoint", "actor": None, "time": last["time"],
                     "count": last["seq"], "head": last["hash"],
                     "envelope": envelope.to_json()})
        keyed.log.write_bytes(_rechain(kept))
    elif tamper == "edited-checkpoint-payload":
        index = max(i for i, r in enumerate(records) if r["event"] == "checkpoint" and i < 10)
        records[index]["count"] -= 1  # the record says something other than what was signed
        keyed.log.write_bytes(_rechain(records))

    assert _verify(keyed) == 0, "the hash chain alone does not see this tampering"
    capsys.readouterr()
    assert _with_key(keyed) == 1
    err = capsys.readouterr().err
    expected = {
        "truncate": "truncated",
        "empty": "no signed checkpoint",
        "delete-last-line": "truncated or emptied",
        "rewrite-recomputed": "the chain was rewritten",
        "rewrite-without-checkpoints": "no signed checkpoint",
        "forged-checkpoint": "forged",
        "edited-checkpoint-payload": "forged",
    }[tamper]
    assert expected in err, err


def test_without_the_anchor_the_log_still_proves_what_its_checkpoints_cover(
    keyed: KeyedHome, capsys: pytest.CaptureFixture[str]
) -> None:
    keyed.anchor.unlink()
    keyed.log.write_bytes(b"".join(_lines(keyed)[:-3]))  # cut after a checkpoint
    assert _with_key(keyed) == 0  # no anchor to compare: the cut is not provable...
    out = capsys.readouterr().out
    assert "signed proof reaches record" in out and "rest on the hash chain only" in out
    copy = keyed.home / "kept-checkpoint.json"  # ...unless an auditor kept a checkpoint
    records = AuditLog(keyed.log).intact_records()
    AuditLog(keyed.log).append("login", actor="alice")
    assert _with_key(keyed, "--anchor", str(copy)) == 2  # unreadable anchor: I/O error
    capsys.readouterr()
    last_checkpoint = [r for r in records if r["event"] == "checkpoint"][-1]
    copy.write_text(json.dumps(last_checkpoint["envelope"]))
    assert _with_key(keyed, "--anchor", str(copy)) == 0


def test_the_signer_refuses_to_checkpoint_a_log_that_lost_signed_records(
    keyed: KeyedHome,
) -> None:
    keyed.log.write_bytes(b"".join(_lines(keyed)[:-4]))  # a kiosk user cuts the end off...
    station = Station.open(keyed.home)  # ...and the next start asks for a checkpoint
    failed = [r for r in station.audit.intact_records() if r["event"] == "checkpoint-failed"]
    assert failed and "no longer holds what the last checkpoint signed" in failed[-1]["reason"]


def test_checkpoint_every_must_be_a_positive_whole_number(
    tmp_path: Path, signer: Signer
) -> None:
    from station.errors import StationError

    keyed = keyed_home(tmp_path / "k", signer)
    text = keyed.home.joinpath("station.toml").read_text()
    keyed.home.joinpath("station.toml").write_text(
        text.replace("checkpoint_every = 100", 'checkpoint_every = "5"'))
    with pytest.raises(StationError, match="checkpoint_every"):
        Station.open(keyed.home)
