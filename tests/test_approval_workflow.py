"""The approval steps of a Transfer as operators meet them: expiry on record, starting the
approvals again, the receipt's approvers, and a bundle imported before."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from station.approval import ApprovalBook, ApprovalSettings, OperatorStore
from station.errors import StationError
from station.publish.bundle import create_bundle
from station.station import Station
from station.workflow import StepRefused, Transfer, TransferState
from tests.builders import Signer

ALICE = ("alice", "alice-pin-1")
VICTOR = ("victor", "victor-pin-2")
VERA = ("vera", "vera-pin-3")


class Clock:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def station(tmp_path: Path, signer: Signer, clock: Clock) -> Station:
    home = tmp_path / "home"
    (home / "trust").mkdir(parents=True)
    shutil.copy(signer.public, home / "trust")
    (home / "station.toml").write_text('[audit]\nsyslog = "off"\n[approval]\nexpiry_seconds = 60\n')
    opened = Station.open(home)
    operators = OperatorStore.from_config(opened.config)
    operators.add(ALICE[0], "operator", ALICE[1])
    operators.add(VICTOR[0], "verifier", VICTOR[1])
    operators.add(VERA[0], "verifier", VERA[1])
    opened.approvals = ApprovalBook(operators, ApprovalSettings.from_config(opened.config),
                                    clock=clock, audit=opened.audit)
    return opened


@pytest.fixture
def media(tmp_path: Path, signer: Signer) -> Path:
    notes = tmp_path / "notes.txt"
    notes.write_text("release notes\n")
    out = tmp_path / "stick"
    create_bundle(out, secret_key=signer.secret, files=[notes], name="notes-1.0")
    return out


def _verified(station: Station, media: Path) -> Transfer:
    transfer = station.new_transfer(media)
    transfer.inspect()
    assert transfer.verify().accepted
    return transfer


def _suffix(transfer: Transfer) -> str:
    assert transfer.verification is not None
    return transfer.verification.bundle_digest[-8:]


def _events(station: Station) -> list[str]:
    return [str(r["event"]) for r in station.audit.records()]


def test_an_approval_expires_on_record_and_the_next_person_is_first_again(
    station: Station, media: Path, clock: Clock
) -> None:
    transfer = _verified(station, media)
    transfer.approve(*ALICE)
    state = transfer.approval_state()
    assert state.next_order == 2 and state.seconds_left == (60.0,)
    clock.now += 61
    state = transfer.approval_state()
    assert state.approvals == () and [a.operator for a in state.expired] == ["alice"]
    assert _events(station).count("approval-expired") == 1
    approval = transfer.approve(*VICTOR)
    assert approval.order == 1, "counted as the first approver, not silently as the second"
    assert transfer.state is TransferState.VERIFIED


def test_after_a_refused_role_the_approvals_start_again_on_record(
    station: Station, media: Path
) -> None:
    transfer = _verified(station, media)
    transfer.approve(*VICTOR)  # the verifier went first: alice cannot be second
    with pytest.raises(StationError, match="second approval must come from a verifier"):
        transfer.approve(*ALICE, typed_suffix=_suffix(transfer))
    assert transfer.restart_approvals("the operators started the approvals again") == 1
    assert transfer.approval_state().approvals == ()
    restarted = [r for r in station.audit.records() if r["event"] == "approvals-restarted"]
    assert restarted[0]["operators"] == ["victor"]
    assert restarted[0]["reason"] == "the operators started the approvals again"
    transfer.approve(*ALICE)
    transfer.approve(*VICTOR, typed_suffix=_suffix(transfer))
    assert transfer.state is TransferState.APPROVED


def test_approvals_cannot_be_restarted_outside_the_approval_step(
    station: Station, media: Path
) -> None:
    transfer = station.new_transfer(media)
    transfer.inspect()
    with pytest.raises(StepRefused):
        transfer.restart_approvals("too early")


def test_the_receipt_keeps_its_approvers_after_they_would_have_expired(
    station: Station, media: Path, clock: Clock
) -> None:
    transfer = _verified(station, media)
    transfer.approve(*ALICE)
    transfer.approve(*VICTOR, typed_suffix=_suffix(transfer))
    transfer.import_into(station.targets()[0])
    clock.now += 3600
    assert [a.operator for a in transfer.approvals] == ["alice", "victor"]


def test_a_bundle_imported_before_is_found_with_when_where_and_who(
    station: Station, media: Path
) -> None:
    first = _verified(station, media)
    assert first.verification is not None
    digest = first.verification.bundle_digest
    assert station.previous_imports(digest) == ()
    first.approve(*ALICE)
    first.approve(*VICTOR, typed_suffix=_suffix(first))
    first.import_into(station.targets()[0])

    again = _verified(station, media)
    (previous,) = station.previous_imports(digest)
    assert previous.approvers == ("alice", "victor")
    assert previous.target == "store" and previous.bundle == "notes-1.0"
    assert previous.transfer == first.id
    again.confirm_reimport([previous.to_json()])
    record = [r for r in station.audit.records() if r["event"] == "reimport-confirmed"][-1]
    assert record["digest"] == digest and record["transfer"] == again.id
    assert record["previous"][0]["approvers"] == ["alice", "victor"]
    assert again.reimport_confirmed
    assert station.previous_imports("sha256:" + "0" * 64) == ()


def test_a_refused_override_never_records_a_name_that_matches_no_account(
    tmp_path: Path, signer: Signer
) -> None:
    home = tmp_path / "rb-home"
    (home / "trust").mkdir(parents=True)
    shutil.copy(signer.public, home / "trust")
    (home / "station.toml").write_text(
        '[audit]\nsyslog = "off"\n[policy]\nrollback_protection = true\n')
    station = Station.open(home)
    operators = OperatorStore.from_config(station.config)
    operators.add(ALICE[0], "operator", ALICE[1])
    operators.add(VICTOR[0], "verifier", VICTOR[1])
    notes = tmp_path / "n.txt"
    notes.write_text("n\n")

    def bundle(sequence: int) -> Path:
        out = tmp_path / f"seq{sequence}"
        create_bundle(out, secret_key=signer.secret, files=[notes], name="n", channel="ops",
                      sequence=sequence)
        return out

    first = _verified(station, bundle(5))
    first.approve(*ALICE)
    first.approve(*VICTOR, typed_suffix=_suffix(first))
    first.import_into(station.targets()[0])
    old = station.new_transfer(bundle(4))
    old.inspect()
    assert not old.verify().accepted
    with pytest.raises(StationError):
        old.override_rollback("my-pin-is-zqxw", "whatever", "re-issue")
    assert "zqxw" not in station.config.audit_log.read_text()
    refusal = [r for r in station.audit.records() if r["event"] == "step-refused"][-1]
    assert refusal["actor"] is None and refusal["step"] == "override"
