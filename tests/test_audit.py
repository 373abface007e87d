"""The audit log: every record chained, any edit found, a crash's torn line tolerated."""

from __future__ import annotations

import json
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from station.audit import GENESIS, AuditError, AuditLog, record_hash

DIGEST_A = "sha256:" + "a" * 56 + "1234abcd"
DIGEST_B = "sha256:" + "b" * 64


def _log(tmp_path: Path, count: int = 5) -> AuditLog:
    log = AuditLog(tmp_path / "audit.log")
    for n in range(count):
        log.append("import-step", actor=f"op{n % 2}", digest=DIGEST_A, step=n)
    return log


def _lines(log: AuditLog) -> list[bytes]:
    return log.path.read_bytes().splitlines(keepends=True)


def test_records_are_chained_and_fields_kept(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.log")
    first = log.append("media-inserted", device={"vendor": "SanDisk", "serial": "123"})
    second = log.append("approval", actor="alice", digest=DIGEST_A)
    assert first["seq"] == 1 and first["prev"] == GENESIS
    assert second["seq"] == 2 and second["prev"] == first["hash"]
    assert second["hash"] == record_hash(second)
    stored = [json.loads(line) for line in _lines(log)]
    assert stored == [first, second]
    assert stored[0]["device"]["vendor"] == "SanDisk"
    check = log.verify()
    assert check.ok and check.records == 2 and check.head == second["hash"]


def test_a_new_log_object_continues_the_chain(tmp_path: Path) -> None:
    _log(tmp_path, 3)
    again = AuditLog(tmp_path / "audit.log")
    record = again.append("abort", actor="bob", reason="media removed")
    assert record["seq"] == 4
    assert again.verify().ok


def test_unknown_event_and_reserved_field_are_refused(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.log")
    with pytest.raises(AuditError, match="unknown audit event"):
        log.append("approvel")
    with pytest.raises(AuditError, match="may not be named"):
        log.append("approval", seq=9)
    assert not log.path.exists() or log.path.read_bytes() == b""


def test_edited_record_is_named(tmp_path: Path) -> None:
    log = _log(tmp_path)
    lines = _lines(log)
    lines[2] = lines[2].replace(b'"actor":"op0"', b'"actor":"eve"')
    log.path.write_bytes(b"".join(lines))
    check = log.verify()
    assert not check.ok and check.broken_at == 3 and "edited" in (check.reason or "")


def test_deleted_record_is_named(tmp_path: Path) -> None:
    log = _log(tmp_path)
    lines = _lines(log)
    del lines[1]
    log.path.write_bytes(b"".join(lines))
    check = log.verify()
    assert not check.ok and check.broken_at == 2 and "deleted" in (check.reason or "")


def test_reordered_records_are_named(tmp_path: Path) -> None:
    log = _log(tmp_path)
    lines = _lines(log)
    lines[1], lines[2] = lines[2], lines[1]
    log.path.write_bytes(b"".join(lines))
    check = log.verify()
    assert not check.ok and check.broken_at == 2


def test_deleting_the_first_record_is_found(tmp_path: Path) -> None:
    log = _log(tmp_path)
    log.path.write_bytes(b"".join(_lines(log)[1:]))
    assert log.verify().broken_at == 1


def test_every_single_byte_edit_is_found(tmp_path: Path) -> None:
    log = _log(tmp_path, 3)
    original = log.path.read_bytes()
    assert log.verify().ok
    for offset in range(len(original)):
        for replacement in {original[offset] ^ 0x01, ord("x")} - {original[offset]}:
            damaged = bytearray(original)
            damaged[offset] = replacement
            log.path.write_bytes(bytes(damaged))
            check = log.verify()
            assert not check.ok, f"edit at byte {offset} ({replacement:#x}) was not found"


def test_torn_last_line_is_reported_not_tampering_and_recovered(tmp_path: Path) -> None:
    log = _log(tmp_path, 3)
    full = log.path.read_bytes()
    torn = b'{"actor":"op1","digest":"sha256:aaaa'
    log.path.write_bytes(full + torn)
    check = log.verify()
    assert check.ok and check.records == 3 and check.torn and check.torn_bytes == len(torn)
    assert "torn" in check.describe()

    record = AuditLog(log.path).append("abort", actor="op1")
    assert record["seq"] == 5  # seq 4 is the audit-recovered record
    check = log.verify()
    assert check.ok and check.records == 5 and check.recovered == (4,) and not check.torn
    recovered = json.loads(_lines(log)[4])
    # The region it names is the bytes as they stand in the file: the torn ones and the NUL
    # the station ended the torn line with (so a bare newline after damage means an edit).
    assert recovered["event"] == "audit-recovered" and recovered["torn_bytes"] == len(torn) + 1
    assert _lines(log)[3] == torn + b"\0\n"


def test_nul_padding_after_a_crash_counts_as_torn(tmp_path: Path) -> None:
    log = _log(tmp_path, 2)
    log.path.write_bytes(log.path.read_bytes() + b"\0" * 4096)
    assert log.verify().torn
    log.append("abort")
    assert log.verify().ok


def test_a_garbage_line_in_the_middle_is_not_excused_as_torn(tmp_path: Path) -> None:
    log = _log(tmp_path, 2)
    lines = _lines(log)
    lines.insert(1, b'{"actor":"op0","dig\n')
    log.path.write_bytes(b"".join(lines))
    check = log.verify()
    assert not check.ok and check.broken_at == 2


def test_a_damaged_last_record_stops_appending(tmp_path: Path) -> None:
    log = _log(tmp_path, 2)
    lines = _lines(log)
    lines[-1] = lines[-1].replace(b'"step":1', b'"step":7')
    log.path.write_bytes(b"".join(lines))
    with pytest.raises(AuditError, match="damaged"):
        log.append("abort")


def test_threads_append_without_breaking_the_chain(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.log")

    def worker(name: str) -> None:
        for n in range(25):
            log.append("import-step", actor=name, step=n)

    threads = [threading.Thread(target=worker, args=(f"t{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    check = log.verify()
    assert check.ok and check.records == 100


def test_filters_by_actor_digest_and_date(tmp_path: Path) -> None:
    times = iter(
        [
            datetime(2026, 1, 1, 10, tzinfo=UTC),
            datetime(2026, 1, 2, 10, tzinfo=UTC),
            datetime(2026, 1, 3, 10, tzinfo=UTC),
        ]
    )
    log = AuditLog(tmp_path / "audit.log", clock=lambda: next(times))
    log.append("approval", actor="alice", digest=DIGEST_A)
    log.append("approval", actor="bob", digest=DIGEST_A)
    log.append("approval", actor="alice", digest=DIGEST_B)
    assert [r["seq"] for r in log.records(actor="alice")] == [1, 3]
    assert [r["seq"] for r in log.records(digest="bbbbbbbb")] == [3]
    assert [r["seq"] for r in log.records(digest=DIGEST_A)] == [1, 2]
    assert [r["seq"] for r in log.records(since=date(2026, 1, 2))] == [2, 3]
    assert [r["seq"] for r in log.records(until=date(2026, 1, 2))] == [1, 2]
    assert [
        r["seq"]
        for r in log.records(since=datetime(2026, 1, 2, 10, tzinfo=UTC) + timedelta(seconds=1))
    ] == [3]


def test_each_record_is_forwarded(tmp_path: Path) -> None:
    sent: list[str] = []
    log = AuditLog(tmp_path / "audit.log", forward=sent.append)
    record = log.append("login", actor="alice")
    assert [json.loads(line) for line in sent] == [record]


def test_reasons_tell_deletion_reordering_and_insertion_apart(tmp_path: Path) -> None:
    log = _log(tmp_path, 6)
    original = _lines(log)

    def check_of(lines: list[bytes]) -> tuple[int | None, str]:
        log.path.write_bytes(b"".join(lines))
        check = log.verify()
        assert not check.ok
        return check.broken_at, check.reason or ""

    swapped = list(original)
    swapped[1], swapped[2] = swapped[2], swapped[1]
    line, reason = check_of(swapped)
    assert line == 2 and "reordered" in reason and "line 3" in reason

    moved = [original[0], *original[2:], original[1]]  # record 2 moved to the end
    line, reason = check_of(moved)
    assert line == 2 and "reordered" in reason and "line 6" in reason

    line, reason = check_of([original[0], original[3], *original[4:]])
    assert line == 2 and "deleted" in reason and "seq 2-3" in reason

    copied = [*original[:3], original[1], *original[3:]]
    line, reason = check_of(copied)
    assert line == 4 and "inserted" in reason and "copy of line 2" in reason

    line, reason = check_of([original[2], original[0], original[1], *original[3:]])
    assert line == 1 and "deleted" not in reason  # seq 3 first: 1 and 2 come later
    assert "reordered" in reason


def test_a_record_rewritten_with_a_recomputed_hash_is_named_by_the_next_one(
    tmp_path: Path,
) -> None:
    log = _log(tmp_path, 4)
    lines = _lines(log)
    record = json.loads(lines[1])
    record["actor"] = "eve"
    record["hash"] = record_hash(record)
    lines[1] = json.dumps(record, sort_keys=True, separators=(",", ":")).encode() + b"\n"
    log.path.write_bytes(b"".join(lines))
    check = log.verify()
    assert not check.ok and check.broken_at == 3
    assert "line 2" in (check.reason or "") and "recomputed hash" in (check.reason or "")


def test_a_bare_newline_after_a_damaged_last_line_is_an_edit_not_a_crash(
    tmp_path: Path,
) -> None:
    log = _log(tmp_path, 2)
    full = log.path.read_bytes()
    log.path.write_bytes(full + b'{"actor":"op1","dig\n')
    check = log.verify()
    assert not check.ok and check.broken_at == 3
    with pytest.raises(AuditError, match="no crash explains"):
        log.append("abort")
    # The same bytes ended by the station's own NUL + newline: a recovery cut short.
    log.path.write_bytes(full + b'{"actor":"op1","dig\0\n')
    assert log.verify().torn
    log.append("abort")
    assert log.verify().ok
