"""The Transfer state machine: the only path to an import, refusing every shortcut."""

from __future__ import annotations

import json
import shutil
from functools import partial
from pathlib import Path

import pytest

from station.approval import OperatorStore
from station.audit import AuditLog
from station.errors import BundleError, StationError
from station.importing import make_target
from station.station import Station
from station.workflow import StepRefused, Transfer, TransferState
from tests.builders import ROLLBACK_CONFIG, Signer, app_bundle, make_sums_bundle, sequenced_bundle

ALICE = ("alice", "alice-pin-1")
VICTOR = ("victor", "victor-pin-2")


@pytest.fixture
def station(tmp_path: Path, signer: Signer) -> Station:
    home = tmp_path / "home"
    (home / "trust").mkdir(parents=True)
    shutil.copy(signer.public, home / "trust")
    (home / "station.toml").write_text('[audit]\nsyslog = "off"\n')
    opened = Station.open(home)
    operators = OperatorStore.from_config(opened.config)
    operators.add(ALICE[0], "operator", ALICE[1])
    operators.add(VICTOR[0], "verifier", VICTOR[1])
    return opened


@pytest.fixture
def media(tmp_path: Path, signer: Signer) -> Path:
    return app_bundle(tmp_path, signer)


def _verified(station: Station, media: Path) -> Transfer:
    transfer = station.new_transfer(media)
    transfer.inspect()
    assert transfer.verify().accepted
    return transfer


def _approve_both(transfer: Transfer) -> None:
    assert transfer.verification is not None
    suffix = transfer.verification.bundle_digest[-8:]
    transfer.approve(*ALICE)
    assert transfer.state is TransferState.VERIFIED
    transfer.approve(*VICTOR, typed_suffix=suffix)
    assert transfer.state is TransferState.APPROVED


def test_full_transfer_into_the_store(station: Station, media: Path) -> None:
    transfer = _verified(station, media)
    states: list[TransferState] = []
    transfer.add_listener(lambda event: states.append(event.state))
    _approve_both(transfer)
    store = station.targets()[0]
    receipt = transfer.import_into(store)
    assert transfer.state is TransferState.DONE
    assert [i.references for i in receipt.images] == [("registry.example.org/ops/app:1.0",)]
    assert states == [TransferState.APPROVED, TransferState.IMPORTING, TransferState.DONE]
    assert list(station.config.staging_dir.iterdir()) == []  # staging cleaned after import
    index = json.loads((station.config.store_dir / "index.json").read_text())
    assert index["manifests"]
    check = station.audit.verify()
    assert check.ok
    events = [r["event"] for r in station.audit.records()]
    for expected in ("bundle-opened", "verification", "approval", "import-step", "import-done"):
        assert expected in events


@pytest.mark.parametrize(("to", "durable"), [(None, True), ("store", True),
                                             ("docker=unix:///nowhere.sock", False),
                                             ("registry=http://127.0.0.1:5999", False)])
def test_only_a_target_that_streams_images_spares_their_fsync(
    station: Station, media: Path, to: str | None, durable: bool
) -> None:
    """Verification knows the target only from the CLI's --to; without it (the kiosk, where
    the store may be chosen after verifying) staged blobs are always made durable."""
    target = make_target(to, station.config) if to is not None else None
    transfer = station.new_transfer(media)
    transfer.inspect()

    verification = transfer.verify(target=target)

    assert verification.staged is not None and verification.staged.blobs_durable is durable


def test_import_is_refused_without_two_approvals(station: Station, media: Path) -> None:
    transfer = _verified(station, media)
    transfer.approve(*ALICE)
    with pytest.raises(StepRefused, match="not approved"):
        transfer.import_into(station.targets()[0])
    assert not (station.config.store_dir / "index.json").exists()
    refused = [r for r in station.audit.records() if r["event"] == "step-refused"]
    assert refused and refused[-1]["step"] == "import"


def test_steps_out_of_order_are_refused_and_audited(station: Station, media: Path) -> None:
    transfer = station.new_transfer(media)
    with pytest.raises(StepRefused, match="cannot verify now"):
        transfer.verify()
    with pytest.raises(StepRefused, match="cannot approve now"):
        transfer.approve(*ALICE)
    transfer.inspect()
    with pytest.raises(StepRefused, match="cannot inspect now"):
        transfer.inspect()
    assert len([r for r in station.audit.records() if r["event"] == "step-refused"]) == 3


def test_rejected_bundle_cannot_be_approved(station: Station, tmp_path: Path) -> None:
    media = make_sums_bundle(tmp_path / "unsigned", {"a": b"1"}, signer=None)
    transfer = station.new_transfer(media)
    transfer.inspect()
    assert not transfer.verify().accepted
    assert transfer.state is TransferState.REJECTED
    with pytest.raises(StepRefused):
        transfer.approve(*ALICE)


def test_new_media_forgets_approvals(station: Station, media: Path) -> None:
    first = _verified(station, media)
    first.approve(*ALICE)
    first.close()  # the media was pulled out and inserted again
    second = station.new_transfer(media)
    second.inspect()
    second.verify()
    assert second.approvals_needed() == 2
    assert first.approvals == ()


def test_abort_removes_staging_and_is_final(station: Station, media: Path) -> None:
    transfer = _verified(station, media)
    assert transfer.verification is not None and transfer.verification.staged is not None
    staged = transfer.verification.staged.root
    assert staged.exists()
    transfer.abort("the media was removed")
    assert transfer.state is TransferState.ABORTED
    assert not staged.exists()
    with pytest.raises(StepRefused):
        transfer.approve(*ALICE)
    aborts = [r for r in station.audit.records() if r["event"] == "abort"]
    assert aborts[-1]["reason"] == "the media was removed"


def test_unreadable_media_rejects_the_transfer(station: Station, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    transfer = station.new_transfer(empty)
    with pytest.raises(BundleError, match=r"no bundle\.json or SHA256SUMS"):
        transfer.inspect()
    assert transfer.state is TransferState.REJECTED


def test_station_open_cleans_staging_left_by_a_crash(station: Station) -> None:
    leftover = station.config.staging_dir / "deadbeef"
    leftover.mkdir()
    (leftover / "half-copied").write_bytes(b"x")
    reopened = Station.open(station.config.home)
    assert list(reopened.config.staging_dir.iterdir()) == []
    started = [r for r in AuditLog(reopened.config.audit_log).records()
               if r["event"] == "station-started"]
    assert started[-1]["staging_cleaned"] == 1


def test_rollback_is_refused_until_an_admin_overrides(tmp_path: Path, signer: Signer) -> None:
    home = tmp_path / "rb-home"
    (home / "trust").mkdir(parents=True)
    shutil.copy(signer.public, home / "trust")
    (home / "station.toml").write_text(ROLLBACK_CONFIG)
    station = Station.open(home)
    operators = OperatorStore.from_config(station.config)
    operators.add(ALICE[0], "operator", ALICE[1])
    operators.add(VICTOR[0], "verifier", VICTOR[1])
    operators.add("ada", "admin", "ada-pin-3")
    notes = tmp_path / "notes.txt"
    notes.write_text("n\n")
    bundle = partial(sequenced_bundle, tmp_path, signer, [notes])

    first = _verified(station, bundle(5))
    _approve_both(first)
    first.import_into(station.targets()[0])

    old = station.new_transfer(bundle(4))
    old.inspect()
    assert [p.code for p in old.verify().problems] == ["rollback"]
    with pytest.raises(StationError, match="wrong PIN"):
        old.override_rollback("ada", "not-her-pin", "re-issue of 4")
    with pytest.raises(StationError, match="may not override"):
        old.override_rollback(*VICTOR, "re-issue of 4")
    with pytest.raises(StationError, match="needs a reason"):
        old.override_rollback("ada", "ada-pin-3", "  ")
    refusals = [r for r in station.audit.records()
                if r["event"] == "step-refused" and r.get("step") == "override"]
    assert [(r["actor"], r["reason"]) for r in refusals] == [
        ("ada", "wrong PIN for ada: 4 tries left before the account locks"),
        ("victor", "victor may not override the policy"),
        ("ada", "an override needs a reason for the audit log"),
    ]
    assert old.state is TransferState.REJECTED
    old.override_rollback("ada", "ada-pin-3", "vendor re-issued release 4")
    assert old.state is TransferState.INSPECTED
    assert old.verify().accepted
    overrides = [r for r in station.audit.records() if r["event"] == "policy-override"]
    assert overrides[-1]["actor"] == "ada"
    assert overrides[-1]["reason"] == "vendor re-issued release 4"

    # The override imports release 4 once; the channel's mark stays at 5, so neither 4 nor
    # 5 (accepted before) is accepted again without another override.
    _approve_both(old)
    old.import_into(station.targets()[0])
    assert old.state is TransferState.DONE
    marks = json.loads((home / "sequence.json").read_text())["channels"]
    assert marks["ops"]["sequence"] == 5
    for sequence in (4, 5):
        again = station.new_transfer(bundle(sequence))
        again.inspect()
        assert [p.code for p in again.verify().problems] == ["rollback"]
    newer = station.new_transfer(bundle(6))
    newer.inspect()
    assert newer.verify().accepted
