"""The audit log never bricks: a write cut off at ANY byte of the recovery of a torn tail (a
full disk, or a second crash), then another, still leaves a log that verifies and takes
records. The write really fails at each byte: a child process appends under a file-size limit
(`RLIMIT_FSIZE`) that the kernel enforces byte-exactly. With SIGXFSZ ignored the write fails
with EFBIG (what a full disk does, ENOSPC: see tests/real/test_audit_full_disk.py for the
real thing); with SIGXFSZ at its default the kernel kills the process right there, mid-write,
with no chance to clean up: a crash at that byte.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
from pathlib import Path

from station.audit import AuditLog

TORN = b'{"actor":"rig","digest":"sha256:4f1c'
DISK_FULL = 3  # the child's exit code when append raised AuditError


def _append_with_limit(path: Path, room: int | None, *, crash: bool) -> int | str:
    """Append one record in a child that may write only `room` more bytes to the log.

    Returns the child's exit code, or "killed" when the kernel killed it mid-write.
    """
    size = path.stat().st_size if path.exists() else 0
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 4
        try:
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            signal.signal(signal.SIGXFSZ, signal.SIG_DFL if crash else signal.SIG_IGN)
            if room is not None:
                resource.setrlimit(resource.RLIMIT_FSIZE, (size + room, size + room))
            from station.audit import AuditError

            try:
                AuditLog(path).append("station-started", home="/var/lib/station")
                code = 0
            except AuditError:
                code = DISK_FULL
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        assert os.WTERMSIG(status) == signal.SIGXFSZ
        return "killed"
    return os.WEXITSTATUS(status)


def _torn_log(folder: Path) -> Path:
    path = folder / "audit.log"
    log = AuditLog(path)
    for step in range(3):
        log.append("import-step", actor="rig", step=step)
    path.write_bytes(path.read_bytes() + TORN)  # a power cut mid-record
    return path


def _recovery_write(path: Path, scratch: Path) -> bytes:
    """The bytes the next append will write (measured on a copy, with no limit)."""
    copy = scratch / "measure.log"
    shutil.copy(path, copy)
    before = copy.read_bytes()
    assert _append_with_limit(copy, None, crash=False) == 0
    after = copy.read_bytes()
    assert after.startswith(before)
    return after[len(before) :]


def _assert_recovers(path: Path, *, records_before: int) -> None:
    """The log verifies, takes a new record, and names every damaged line as recovered."""
    check = AuditLog(path).verify()
    assert check.ok, check.describe()
    assert check.records >= records_before
    log = AuditLog(path)
    record = log.append("abort", actor="rig", reason="after the crashes")
    after = log.verify()
    assert after.ok and not after.torn, after.describe()
    assert record["seq"] == after.records
    assert [r["event"] for r in log.intact_records()][-1] == "abort"
    if check.torn:
        assert log.recoveries, "the torn tail was recovered without saying so"
        assert log.recoveries[0]["torn_line"] in after.recovered


def test_disk_full_at_every_byte_of_the_recovery_leaves_the_log_as_it_was(
    tmp_path: Path,
) -> None:
    path = _torn_log(tmp_path)
    original = path.read_bytes()
    write = _recovery_write(path, tmp_path)
    assert len(write) > 300  # NUL+newline, the recovery record and the new record
    for room in range(len(write)):
        assert _append_with_limit(path, room, crash=False) == DISK_FULL, room
        assert path.read_bytes() == original, f"a failed write at byte {room} left bytes"
        check = AuditLog(path).verify()
        assert check.ok and check.torn and check.records == 3, (room, check.describe())
    _assert_recovers(path, records_before=3)


def test_a_crash_at_every_byte_of_the_recovery_then_another_still_recovers(
    tmp_path: Path,
) -> None:
    (tmp_path / "base").mkdir()
    base = _torn_log(tmp_path / "base")
    original = base.read_bytes()
    write = _recovery_write(base, tmp_path)
    work = tmp_path / "audit.log"
    for room in range(len(write)):
        work.write_bytes(original)
        assert _append_with_limit(work, room, crash=True) == "killed", room
        crashed = work.read_bytes()  # exactly what the crash left (times differ per run)
        assert crashed.startswith(original) and len(crashed) == len(original) + room
        first = AuditLog(work).verify()
        assert first.ok, (room, first.describe())
        # A second crash somewhere in the next recovery (spread over its whole length).
        second_write = _recovery_write(work, tmp_path)
        cut = (room * 7919) % len(second_write)
        assert _append_with_limit(work, cut, crash=True) == "killed"
        _assert_recovers(work, records_before=3)


def test_two_crashes_at_every_byte_pair_near_the_edges(tmp_path: Path) -> None:
    """The places a newline or a record boundary falls: every second-crash byte for them."""
    (tmp_path / "base").mkdir()
    base = _torn_log(tmp_path / "base")
    original = base.read_bytes()
    write = _recovery_write(base, tmp_path)
    work = tmp_path / "audit.log"
    boundary = write.index(b"\n", 2) + 1  # just after the recovery record
    for room in (0, 1, 2, boundary, len(write) - 1):
        work.write_bytes(original)
        assert _append_with_limit(work, room, crash=True) == "killed"
        crashed = work.read_bytes()
        second_write = _recovery_write(work, tmp_path)
        for cut in range(len(second_write)):
            work.write_bytes(crashed)
            assert _append_with_limit(work, cut, crash=True) == "killed"
            check = AuditLog(work).verify()
            assert check.ok, (room, cut, check.describe())
        _assert_recovers(work, records_before=3)


def test_after_a_disk_full_the_station_goes_on_once_there_is_room(tmp_path: Path) -> None:
    path = _torn_log(tmp_path)
    assert _append_with_limit(path, 10, crash=False) == DISK_FULL
    assert _append_with_limit(path, None, crash=False) == 0
    check = AuditLog(path).verify()
    assert check.ok and check.recovered == (4,) and check.records == 5


def test_the_station_says_what_it_recovered_when_it_starts(tmp_path: Path) -> None:
    from station.station import Station

    home = tmp_path / "home"
    home.mkdir()
    (home / "station.toml").write_text('[audit]\nsyslog = "off"\n')
    path = _torn_log(home)
    assert _append_with_limit(path, 5, crash=True) == "killed"  # and a crash in the recovery
    station = Station.open(home)
    recovered = station.audit.recoveries
    assert len(recovered) == 1 and recovered[0]["torn_line"] == 4
    # Two damaged lines: the torn record (ended by NUL + newline) and 3 bytes of a recovery.
    assert recovered[0]["torn_lines"] == 2
    started = station.audit.intact_records()[-1]
    assert started["event"] == "station-started"
    assert started["audit_recovered"] == recovered[0]["seq"]
    check = station.audit.verify()
    assert check.ok and check.recovered == (4, 5)
    assert "recorded as recovered: 4, 5" in check.describe()
