"""Media that vanishes mid-read ends the transfer as aborted, never as a rejection.

A lazy unmount (`umount -l`) while verification runs leaves the mount point an empty folder
of another file system: every file not yet opened is "missing". That is the media going
away, not a bundle that lies about its files, so the transfer is aborted with the reason and
nothing stays staged.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from station.errors import MediaError
from station.progress import Progress
from station.station import Station
from station.workflow import TransferState
from tests.builders import make_signer, make_sums_bundle

pytestmark = pytest.mark.real


@pytest.fixture
def bind_mounted(tmp_path: Path):  # type: ignore[no-untyped-def]
    if os.geteuid() != 0:
        print("skipping: bind mounts need root")
        pytest.skip("bind mounts need root")
    source = tmp_path / "stick"
    mount = tmp_path / "mnt"
    mount.mkdir()
    yield source, mount
    subprocess.run(["umount", "-l", str(mount)], check=False, capture_output=True)


def test_a_lazy_unmount_during_verification_aborts_the_transfer(
    tmp_path: Path, bind_mounted: tuple[Path, Path]
) -> None:
    source, mount = bind_mounted
    signer = make_signer(tmp_path)
    files = {f"data/{i:02}.bin": os.urandom(512 * 1024) for i in range(24)}
    make_sums_bundle(source, files, signer)
    subprocess.run(["mount", "--bind", "-o", "ro", str(source), str(mount)], check=True)
    home = tmp_path / "home"
    station = Station.open(home)
    station.trust = station.trust.load(signer.trust)
    transfer = station.new_transfer(mount)
    transfer.inspect()
    unmounted: list[bool] = []

    def pull_after_first(progress: Progress) -> None:
        if not unmounted:
            unmounted.append(True)
            subprocess.run(["umount", "-l", str(mount)], check=True)

    with pytest.raises(MediaError, match="went away"):
        transfer.verify(on_progress=pull_after_first)

    assert transfer.state is TransferState.ABORTED
    assert "went away" in (transfer.abort_reason or "")
    assert not list((home / "staging").iterdir())
    verdicts = [r for r in station.audit.records() if r["event"] == "verification"]
    assert verdicts == []  # never recorded as a rejection
