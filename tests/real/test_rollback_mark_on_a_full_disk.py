"""A rollback mark that cannot be written after the images landed (a full disk, for real: a
tiny tmpfs filled to the last byte): the transfer ends done, audited with what landed and with
the failure, never stuck in "importing"; this station process still refuses the older bundle."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import replace
from functools import partial
from pathlib import Path

import pytest

from station.approval import OperatorStore
from station.station import Station
from station.verify.policy import SequenceStore
from station.workflow import Transfer, TransferState
from tests.builders import ROLLBACK_CONFIG, Signer, sequenced_bundle
from tests.real.tmpfs import small_tmpfs

pytestmark = [
    pytest.mark.real,
    pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root"),
]


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    with small_tmpfs(tmp_path / "full", "size=64k") as where:
        fd = os.open(where / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while True:
                os.write(fd, b"\0" * 4096)
        except OSError:  # ENOSPC: full to the last block
            pass
        finally:
            os.close(fd)
        yield where


def _approved(station: Station, media: Path) -> Transfer:
    transfer = station.new_transfer(media)
    transfer.inspect()
    verification = transfer.verify()
    assert verification.accepted, verification.problems
    transfer.approve("alice", "alice-pin-1")
    transfer.approve("victor", "victor-pin-2", verification.bundle_digest[-8:])
    return transfer


def test_a_mark_that_cannot_be_saved_ends_the_transfer_done_and_says_what_landed(
    tmp_path: Path, signer: Signer, full_disk: Path
) -> None:
    home = tmp_path / "home"
    (home / "trust").mkdir(parents=True)
    shutil.copy(signer.public, home / "trust")
    (home / "station.toml").write_text(ROLLBACK_CONFIG)
    operators = OperatorStore(home / "operators.toml")
    operators.add("alice", "operator", "alice-pin-1")
    operators.add("victor", "verifier", "victor-pin-2")
    notes = tmp_path / "notes.txt"
    notes.write_text("release notes\n")
    bundle = partial(sequenced_bundle, tmp_path, signer, [notes])

    station = Station.open(home)
    marks = SequenceStore(full_disk / "sequence.json")  # its folder has no byte left
    station.policy = replace(station.policy, sequences=marks)

    transfer = _approved(station, bundle(5))
    receipt = transfer.import_into(station.targets()[0])

    assert transfer.state is TransferState.DONE
    assert "1 item(s) landed" in transfer.message
    assert "rollback mark for channel 'ops' (sequence 5) could not be saved" in transfer.message
    assert "No space left on device" in transfer.message
    assert transfer.warnings and "free space" in transfer.warnings[0]
    delivered = Path(receipt.files[0].where)
    assert delivered.read_text() == "release notes\n"  # it did land
    records = list(station.audit.records())
    [unsaved] = [r for r in records if r["event"] == "sequence-not-saved"]
    assert unsaved["landed"] == ["files/notes.txt"] and unsaved["digest"] == receipt.bundle_digest
    assert [r["event"] for r in records].index("import-done") < records.index(unsaved)
    assert station.audit.verify().ok

    # This process still holds the mark: the older bundle is refused...
    older = station.new_transfer(bundle(4))
    older.inspect()
    assert [p.code for p in older.verify().problems] == ["rollback"]
    # ...and once there is space again, the next import saves it together with its own.
    (full_disk / "filler").unlink()
    newer = _approved(station, bundle(6))
    newer.import_into(station.targets()[0])
    assert newer.warnings == []
    assert SequenceStore(full_disk / "sequence.json").load() == {"ops": 6}
