"""A really full disk at every byte of the audit recovery: a small tmpfs, filled up, with the
log's last page holding exactly N free bytes, for every N the recovery write needs. tmpfs
writes page by page, so the write stops with ENOSPC exactly there; then space comes back and
the station goes on. (tests/test_audit_recovery.py does the same with a file-size limit, plus
crashes at each byte.)
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from station.audit import AuditError, AuditLog
from tests.real.tmpfs import small_tmpfs

PAGE = os.sysconf("SC_PAGE_SIZE")
TORN = b'{"actor":"rig","digest":"sha256:4f1c'


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    with small_tmpfs(tmp_path / "disk", "size=256k,mode=0700") as mount_point:
        yield mount_point


def _fill(folder: Path) -> Path:
    """Take every free page of the filesystem; returns the filler to delete later."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        while True:
            try:
                os.write(fd, b"\0" * PAGE)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                break
    finally:
        os.close(fd)
    stats = os.statvfs(folder)
    assert stats.f_bfree == 0
    return filler


def test_disk_full_at_every_byte_of_the_recovery(small_disk: Path, tmp_path: Path) -> None:
    path = small_disk / "audit.log"
    log = AuditLog(path)
    for step in range(3):
        log.append("import-step", actor="rig", step=step)
    records = path.read_bytes()

    # How long the recovery write is: measured once on a roomy copy.
    measure = AuditLog(tmp_path / "measure.log")
    (tmp_path / "measure.log").write_bytes(records + TORN)
    measure.append("station-started")
    needed = (tmp_path / "measure.log").stat().st_size - len(records) - len(TORN)

    for room in range(needed):
        # Pad the torn tail with NULs (as a crash may) so the last page has `room` bytes free.
        pad = (-(len(records) + len(TORN) + room)) % PAGE
        damaged = records + TORN + b"\0" * pad
        path.write_bytes(damaged)
        filler = _fill(small_disk)
        try:
            with pytest.raises(AuditError, match="No space left") as raised:
                AuditLog(path).append("station-started")
            assert "full" in (raised.value.hint or "")
            assert path.read_bytes() == damaged, f"ENOSPC at byte {room} left bytes behind"
            check = AuditLog(path).verify()
            assert check.ok and check.torn and check.records == 3, check.describe()
        finally:
            filler.unlink()
        log = AuditLog(path)
        log.append("station-started")  # room again: the station goes on
        after = log.verify()
        assert after.ok and after.records == 5 and after.recovered == (4,), after.describe()
        assert log.recoveries[0]["torn_bytes"] == len(TORN) + pad + 1
