"""The audit log: append-only JSON lines, each record hash-chained to the one before.

Auditors ask later who brought what across, signed and approved by whom; the answer must be
trustworthy. Each record is one line of canonical JSON (sorted keys, no spaces, UTF-8):

    {"actor": ..., "event": ..., "hash": "sha256:...", "prev": "sha256:...", "seq": 7,
     "time": "2026-11-27T02:30:00.123+00:00", ...event fields...}

`hash` is the SHA-256 of the canonical JSON of the record without `hash`; `prev` is the
previous record's `hash` (`GENESIS` for the first). Editing, deleting or reordering a record
breaks the chain at that record. `append` writes the whole line with one `write` on an
`O_APPEND` descriptor, under a thread lock and an `flock` (the CLI and the kiosk may both
write), then `fsync`s before it returns: when the UI moves on, the record is on disk.

A crash can leave the end of the file torn (a prefix of a record, possibly followed by NUL
bytes); a crash or a full disk *during the recovery of such a tail* can leave several damaged
lines there. `verify` reports such a tail as `torn`, not as tampering, and the chain stays
valid up to the last full record. The next `append` writes an `audit-recovered` record that
names the damaged bytes (first line, line count, length and SHA-256) before its own record,
so the evidence stays in the file and the chain continues; a write that fails (full disk) is
cut back to where it started. The log never refuses appends because of a crash. See
docs/audit.md.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import syslog
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Protocol

from station.config import StationConfig
from station.errors import StationError

GENESIS = "sha256:" + "0" * 64
RECOVERED_EVENT = "audit-recovered"
CHECKPOINT_EVENT = "checkpoint"
SYSLOG_IDENT = "transfer-station"
SYSLOG_FACILITIES = {"authpriv": syslog.LOG_AUTHPRIV, "local0": syslog.LOG_LOCAL0}

# The documented vocabulary (docs/audit.md). `append` refuses anything else so that a typo
# cannot create an event an auditor's filter would miss.
EVENTS = frozenset(
    {
        "media-inserted",
        "media-removed",
        "media-refused",
        "media-watcher-failed",
        "media-watcher-restarted",
        "bundle-opened",
        "verification",
        "approval",
        "approval-refused",
        "approvals-cleared",
        "approval-expired",
        "approvals-restarted",
        "reimport-confirmed",
        "import-step",
        "import-done",
        "import-failed",
        "abort",
        "login",
        "login-failed",
        "admin-action",
        "policy-override",
        "sequence-not-saved",
        "state-change",
        "step-refused",
        "station-started",
        "store-scan",
        "database-installed",
        "database-refused",
        "staging-cleaned",
        RECOVERED_EVENT,
        CHECKPOINT_EVENT,
        "checkpoint-failed",
        "receipt-written",
        "receipt-failed",
        "audit-export",
        "audit-export-failed",
    }
)
_RESERVED = frozenset({"seq", "time", "event", "actor", "prev", "hash"})
_TAIL_BLOCK = 64 * 1024
# The station ends a torn line with NUL + newline before it writes the recovery: a damaged
# line that ends in a newline without it was edited, not torn by a crash.
_TORN_END = b"\0\n"
# Every audit-recovered record starts with these bytes (canonical JSON sorts its keys): a
# damaged line after the first one of a torn region can only be a recovery that was cut off.
_RECOVERY_HEAD = b'{"actor":null,"event":"audit-recovered",'


class AuditError(StationError):
    """The audit log cannot be written or read; the station must not go on without it."""


def canonical(record: dict[str, Any]) -> bytes:
    """The exact bytes that are hashed and written: sorted keys, no spaces, UTF-8."""
    return json.dumps(
        record, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def record_hash(record: dict[str, Any]) -> str:
    """`sha256:` of the canonical JSON of the record without its `hash` field."""
    body = {key: value for key, value in record.items() if key != "hash"}
    return "sha256:" + hashlib.sha256(canonical(body)).hexdigest()


@dataclass(frozen=True)
class AuditCheck:
    """What `verify` found. `ok` means every full record is intact and chained.

    `broken_at` is the 1-based line number of the first record that does not fit (edited,
    deleted, reordered, inserted or not a record at all) and `reason` says how. `torn` is set
    when the file ends in damaged lines a crash can leave (a write cut off, perhaps twice),
    `torn_bytes` is their length. `recovered` lists the damaged lines that an
    `audit-recovered` record accounts for.
    """

    ok: bool
    records: int
    broken_at: int | None = None
    reason: str | None = None
    torn: bool = False
    torn_bytes: int = 0
    recovered: tuple[int, ...] = ()
    head: str = GENESIS

    def describe(self) -> str:
        if not self.ok:
            return f"audit chain broken at line {self.broken_at}: {self.reason}"
        text = f"audit chain ok: {self.records} records, head {self.head}"
        if self.recovered:
            lines = ", ".join(str(n) for n in self.recovered)
            text += f"; damaged lines left by earlier crashes, recorded as recovered: {lines}"
        if self.torn:
            text += (
                f"; the log ends in {self.torn_bytes} torn bytes (a write interrupted by a "
                "crash or a full disk); the next record recovers them"
            )
        return text


@dataclass
class _Line:
    number: int
    raw: bytes
    complete: bool
    offset: int = 0  # where the line starts in the bytes it was split from


@dataclass
class _Tail:
    """The last full record (for seq and prev) and the damaged region after it, if any."""

    seq: int = 0
    hash: str = GENESIS
    torn: bytes = b""  # the damaged lines joined by b"\n", as `verify` joins them
    torn_line: int = 0  # the number of the first damaged line
    torn_lines: int = 0
    needs_newline: bool = False  # the file does not end in a newline


def _split_lines(data: bytes) -> Iterator[_Line]:
    start = 0
    number = 0
    while start < len(data):
        number += 1
        end = data.find(b"\n", start)
        if end < 0:
            yield _Line(number, data[start:], complete=False, offset=start)
            return
        yield _Line(number, data[start:end], complete=True, offset=start)
        start = end + 1


def _parse(raw: bytes) -> dict[str, Any] | str:
    """The record on a line, or why it is not one."""
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        return f"not a JSON record ({exc})"
    if not isinstance(value, dict):
        return "not a JSON object"
    for key, kind in (("seq", int), ("time", str), ("event", str), ("prev", str), ("hash", str)):
        if not isinstance(value.get(key), kind) or isinstance(value.get(key), bool):
            return f"field {key!r} is missing or has the wrong type"
    if canonical(value) != raw:
        return "not in canonical form (the line was rewritten)"
    return value


def _intact(raw: bytes) -> dict[str, Any] | None:
    """The record on a line if it is one and its hash matches its content."""
    parsed = _parse(raw)
    if isinstance(parsed, str) or parsed["hash"] != record_hash(parsed):
        return None
    return parsed


def _looks_torn(raw: bytes) -> bool:
    """A crash leaves a strict prefix of a record, perhaps padded with NULs by the filesystem.

    A complete JSON object (alone or followed by other bytes) is never a torn write: a whole
    record that lost only its newline is read as a record, anything else is an edit (for
    example the final newline replaced by another byte).
    """
    text = raw.rstrip(b"\0")
    if not text:
        return True
    if b"\0" in text or not text.startswith(b"{"):
        return False
    decoded = text.decode("utf-8", errors="replace")
    try:
        json.JSONDecoder().raw_decode(decoded)
    except ValueError:
        return True
    return False


def _may_follow_torn(raw: bytes) -> bool:
    """A damaged line after the first of a torn region: only a recovery record cut short."""
    text = raw.rstrip(b"\0")
    shared = min(len(text), len(_RECOVERY_HEAD))
    return _looks_torn(raw) and text[:shared] == _RECOVERY_HEAD[:shared]


def _crash_made(lines: list[_Line]) -> bool:
    """Damaged lines at the end of the file, as only a crash leaves them.

    Each looks torn (a later one only as a recovery record cut short), and each one that is
    terminated ends with the station's NUL + newline, never with a bare newline.
    """
    return all(
        _looks_torn(line.raw)
        and (index == 0 or _may_follow_torn(line.raw))
        and (not line.complete or line.raw.endswith(b"\0"))
        for index, line in enumerate(lines)
    )


def torn_region(lines: list[_Line]) -> bytes:
    """The bytes an `audit-recovered` record names: the damaged lines joined by newlines."""
    return b"\n".join(line.raw for line in lines)


class Checkpointer(Protocol):
    """Signs checkpoints for the log (station.checkpoints.SignedCheckpoints is one).

    `every`: a checkpoint after every record whose seq is a multiple of it (0: never).
    `sign` returns the fields of the `checkpoint` record for the first `count` records, whose
    last has hash `head`; it raises StationError when it cannot sign.
    """

    @property
    def every(self) -> int: ...

    def sign(self, count: int, head: str) -> dict[str, Any]: ...


class AuditLog:
    """One audit log file. Thread-safe; several processes may append to the same file."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        syslog_facility: int | None = None,
        forward: Callable[[str], None] | None = None,
        clock: Callable[[], datetime] | None = None,
        checkpointer: Checkpointer | None = None,
        syslog_socket: str = "/dev/log",
    ) -> None:
        """`forward` receives each written line (default: with a facility, RFC 5424 syslog
        messages to `syslog_socket`, station.syslog5424)."""
        self.path = Path(path)
        self.checkpointer = checkpointer
        self.recoveries: list[dict[str, Any]] = []  # audit-recovered records this object wrote
        self._lock = threading.Lock()
        self._clock = clock or (lambda: datetime.now(UTC))
        self._forward = forward
        if forward is None and syslog_facility is not None:
            from station.syslog5424 import syslog_forwarder

            self._forward = syslog_forwarder(syslog_facility, syslog_socket)

    @classmethod
    def from_config(
        cls, config: StationConfig, checkpointer: Checkpointer | None = None
    ) -> AuditLog:
        """The station's log; `[audit] syslog = "authpriv"` (default), `"local0"` or `"off"`,
        `syslog_socket` (default `/dev/log`): both checked by the configuration model."""
        section = config.audit
        if section.syslog == "off":
            return cls(config.audit_log, checkpointer=checkpointer)
        return cls(
            config.audit_log,
            syslog_facility=SYSLOG_FACILITIES[section.syslog],
            checkpointer=checkpointer,
            syslog_socket=section.syslog_socket,
        )
    # -- writing -------------------------------------------------------------------------

    def append(self, event: str, *, actor: str | None = None, **fields: Any) -> dict[str, Any]:
        """Write one record, durably, and return it. Raises AuditError if it cannot.

        A torn tail left by a crash is recovered first (an `audit-recovered` record); when
        the record's seq is a multiple of the checkpointer's `every`, a signed `checkpoint`
        record follows it.
        """
        if event not in EVENTS:
            raise AuditError(f"unknown audit event {event!r}", hint="see docs/audit.md")
        clash = _RESERVED & set(fields)
        if clash:
            raise AuditError(f"audit fields may not be named {', '.join(sorted(clash))}")
        with self._locked() as fd:
            record = self._write(fd, event, actor, fields)
            every = self.checkpointer.every if self.checkpointer is not None else 0
            if every > 0 and record["seq"] % every == 0:
                self._write_checkpoint(fd, record)
        return record

    def recover(self) -> dict[str, Any] | None:
        """Close a torn tail now, if there is one; returns the `audit-recovered` record.

        `Station.open` calls it at start-up so that what was recovered is known (and shown)
        before anything else happens.
        """
        with self._locked() as fd:
            tail = self._read_tail()
            if not tail.torn:
                return None
            return self._write(fd, None, None, {}, tail=tail)

    def checkpoint(self) -> dict[str, Any] | None:
        """Append a signed checkpoint of the log as it is now (transfer end, start-up).

        Returns the `checkpoint` (or `checkpoint-failed`) record; None without a checkpointer.
        """
        if self.checkpointer is None:
            return None
        with self._locked() as fd:
            tail = self._read_tail()
            if tail.torn:
                last = self._write(fd, None, None, {}, tail=tail)
            else:
                last = {"seq": tail.seq, "hash": tail.hash}
            return self._write_checkpoint(fd, last)

    @contextmanager
    def _locked(self) -> Iterator[int]:
        """The log open for appending, under the thread lock and an exclusive flock."""
        with self._lock:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(
                    self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640
                )
            except OSError as exc:
                raise AuditError(
                    f"cannot open the audit log {self.path}: {exc.strerror}",
                    hint="the station stops until the log can be written; check the disk",
                ) from exc
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield fd
            finally:
                os.close(fd)  # releases the flock

    def _write_checkpoint(self, fd: int, last: dict[str, Any]) -> dict[str, Any]:
        """The checkpoint record for everything up to `last`, or why there is none."""
        assert self.checkpointer is not None  # noqa: S101 - callers check
        try:
            fields = self.checkpointer.sign(last["seq"], last["hash"])
        except StationError as exc:
            return self._write(
                fd, "checkpoint-failed", None,
                {"count": last["seq"], "head": last["hash"], "reason": exc.message},
            )
        return self._write(fd, CHECKPOINT_EVENT, None, fields)

    def _write(
        self,
        fd: int,
        event: str | None,
        actor: str | None,
        fields: dict[str, Any],
        *,
        tail: _Tail | None = None,
    ) -> dict[str, Any]:
        """Recover a torn tail if any, then write `event` (None: only the recovery).

        Everything goes out in one `write` and one `fsync`. If the write fails (a full disk),
        the file is cut back to its size before it, so a failed append leaves nothing behind;
        a crash part-way leaves a torn region the next append recovers.
        """
        tail = tail if tail is not None else self._read_tail()
        prefix = b""
        if tail.needs_newline:  # a torn line gets NUL + newline, a whole record a newline
            prefix = _TORN_END if tail.torn else b"\n"
        seq, prev = tail.seq, tail.hash
        written: list[dict[str, Any]] = []
        if tail.torn:
            recovered = self._seal(
                seq + 1,
                prev,
                RECOVERED_EVENT,
                None,
                {
                    "torn_line": tail.torn_line,
                    "torn_lines": tail.torn_lines,
                    "torn_bytes": len(tail.torn),
                    "torn_sha256": hashlib.sha256(tail.torn).hexdigest(),
                },
            )
            written.append(recovered)
            seq, prev = recovered["seq"], recovered["hash"]
        if event is not None:
            written.append(self._seal(seq + 1, prev, event, actor, fields))
        data = prefix + b"".join(canonical(record) + b"\n" for record in written)
        try:
            size = os.fstat(fd).st_size
            try:
                _write_all(fd, data)
                os.fsync(fd)
            except OSError:
                _cut_back(fd, size)
                raise
        except OSError as exc:
            full = exc.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)
            raise AuditError(
                f"cannot write the audit log {self.path}: {exc.strerror}",
                hint=(
                    "the disk holding the station home is full: free space, then go on; "
                    "nothing was recorded and nothing went ahead"
                    if full
                    else "the station stops until the log can be written; check the disk"
                ),
            ) from exc
        if tail.torn:
            self.recoveries.append(written[0])
        if self._forward is not None:
            for record in written:
                self._forward(canonical(record).decode("utf-8"))
        return written[-1]

    def _seal(
        self, seq: int, prev: str, event: str, actor: str | None, fields: dict[str, Any]
    ) -> dict[str, Any]:
        record: dict[str, Any] = dict(fields)
        record.update(
            seq=seq,
            time=self._clock().astimezone(UTC).isoformat(timespec="milliseconds"),
            event=event,
            actor=actor,
            prev=prev,
        )
        try:
            record["hash"] = record_hash(record)
        except (TypeError, ValueError) as exc:
            raise AuditError(f"audit record for {event!r} is not plain JSON: {exc}") from exc
        return record

    def _read_tail(self) -> _Tail:
        """The last intact record and the damaged region after it, read from the end.

        Walking back from the end: damaged lines are a torn region as long as they look like
        what a crash leaves (the first one any record cut short, later ones recovery records
        cut short); the first intact record ends the walk. Anything else is damage no crash
        makes, and appending stops (fail closed: an administrator must look).
        """
        try:
            with open(self.path, "rb") as handle:
                size = handle.seek(0, os.SEEK_END)
                block = _TAIL_BLOCK
                while True:
                    start = max(0, size - block)
                    handle.seek(start)
                    data = handle.read(size - start)
                    found = self._tail_in(data, at_start=start == 0)
                    if found is not None:
                        break
                    block *= 4
        except FileNotFoundError:
            return _Tail()
        except OSError as exc:
            raise AuditError(f"cannot read the audit log {self.path}: {exc.strerror}") from exc
        last, damaged = found
        tail = _Tail(needs_newline=bool(data) and not data.endswith(b"\n"))
        if last is not None:
            tail.seq, tail.hash = last["seq"], last["hash"]
        if damaged:
            if tail.needs_newline:  # the NUL the writer ends it with belongs to the region
                damaged[-1] = _Line(0, damaged[-1].raw + b"\0", True, damaged[-1].offset)
            tail.torn = torn_region(damaged)
            tail.torn_lines = len(damaged)
            tail.torn_line = self._count_lines(size - len(data) + damaged[0].offset) + 1
        return tail

    def _tail_in(
        self, data: bytes, *, at_start: bool
    ) -> tuple[dict[str, Any] | None, list[_Line]] | None:
        """(last intact record, damaged lines after it) in a block; None: read more."""
        pieces = list(_split_lines(data))
        if not at_start:
            pieces = pieces[1:]  # the first piece may start mid-line
        damaged: list[_Line] = []
        for line in reversed(pieces):
            record = _intact(line.raw)
            if record is not None:
                return record, damaged
            damaged.insert(0, line)
            if not _crash_made(damaged):
                raise AuditError(
                    f"the audit log {self.path} ends in a damaged record that no crash "
                    "explains (it was edited)",
                    hint="run `station audit verify`; an administrator must look at the log "
                    "(docs/audit.md, 'When the log is damaged')",
                )
        if at_start:
            return None, damaged
        return None

    def _count_lines(self, before: int) -> int:
        """Newlines in the first `before` bytes of the file (its line number there)."""
        count = 0
        with open(self.path, "rb") as handle:
            while before > 0:
                chunk = handle.read(min(before, 1 << 20))
                if not chunk:
                    break
                count += chunk.count(b"\n")
                before -= len(chunk)
        return count

    # -- reading -------------------------------------------------------------------------

    def _read_all(self) -> bytes:
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return b""
        except OSError as exc:
            raise AuditError(f"cannot read the audit log {self.path}: {exc.strerror}") from exc

    def verify(self) -> AuditCheck:
        """Check every record and the chain; name the first line that does not fit, and why."""
        lines = list(_split_lines(self._read_all()))
        parsed = [_parse(line.raw) for line in lines]
        prev_hash, prev_seq, count = GENESIS, 0, 0
        recovered: list[int] = []
        region: list[_Line] = []
        region_reason = ""
        for index, (line, value) in enumerate(zip(lines, parsed, strict=True)):
            if isinstance(value, str):
                fits = _looks_torn(line.raw) and (not region or _may_follow_torn(line.raw))
                if fits:
                    region.append(line)
                    region_reason = region_reason or value
                    continue  # acceptable only as a torn end, or if a recovery names it
                if region:
                    return AuditCheck(
                        False, count, region[0].number, f"the line was edited: {region_reason}",
                        head=prev_hash,
                    )
                if not line.complete:
                    return AuditCheck(
                        False, count, line.number,
                        "the last line is not a torn write: bytes were added or the final "
                        "newline was changed", head=prev_hash,
                    )
                return AuditCheck(
                    False, count, line.number, f"the line was edited: {value}", head=prev_hash
                )
            if region:
                if not _recovers(value, region):
                    return AuditCheck(
                        False, count, region[0].number,
                        f"the line was edited: {region_reason} (no audit-recovered record "
                        "accounts for it)", head=prev_hash,
                    )
                recovered.extend(damaged.number for damaged in region)
                region = []
            problem = _chain_problem(lines, parsed, index, prev_seq, prev_hash)
            if problem:
                return AuditCheck(False, count, line.number, problem, head=prev_hash)
            prev_seq, prev_hash = value["seq"], value["hash"]
            count += 1
        if region and not _crash_made(region):
            return AuditCheck(
                False, count, region[0].number,
                f"the line was edited: {region_reason} (a crash leaves no newline after a "
                "torn record)", head=prev_hash,
            )
        if region:
            return AuditCheck(
                True, count, torn=True, torn_bytes=len(torn_region(region)),
                recovered=tuple(recovered), head=prev_hash,
            )
        return AuditCheck(True, count, recovered=tuple(recovered), head=prev_hash)

    def intact_records(self) -> list[dict[str, Any]]:
        """Every full, intact record in file order (checkpoint and export readers use it)."""
        return [record for _, record in self.numbered_records()]

    def numbered_records(self) -> list[tuple[int, dict[str, Any]]]:
        """(line number, record) for every intact record, in file order."""
        found = []
        for line in _split_lines(self._read_all()):
            record = _intact(line.raw)
            if record is not None:
                found.append((line.number, record))
        return found

    def position(self) -> tuple[int, str]:
        """(seq, hash) of the last intact record now: what a receipt names."""
        with self._lock:
            tail = self._read_tail()
        return tail.seq, tail.hash

    def records(
        self,
        *,
        since: datetime | date | None = None,
        until: datetime | date | None = None,
        actor: str | None = None,
        digest: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Full records that match every filter given; torn or damaged lines are skipped.

        `since`/`until` are inclusive; a date means the whole UTC day. `digest` matches the
        `digest` field by prefix, with or without `sha256:`.
        """
        low = as_instant(since, end=False) if since is not None else None
        high = as_instant(until, end=True) if until is not None else None
        want = None
        if digest is not None:
            want = digest.lower().removeprefix("sha256:")
        for line in _split_lines(self._read_all()):
            if not line.complete:
                continue
            parsed = _parse(line.raw)
            if isinstance(parsed, str):
                continue
            if actor is not None and parsed.get("actor") != actor:
                continue
            if want is not None:
                value = parsed.get("digest")
                if not isinstance(value, str):
                    continue
                if not value.lower().removeprefix("sha256:").startswith(want):
                    continue
            if low is not None or high is not None:
                try:
                    when = datetime.fromisoformat(parsed["time"])
                except ValueError:
                    continue
                if (low is not None and when < low) or (high is not None and when > high):
                    continue
            yield parsed


def _recovers(record: dict[str, Any], region: list[_Line]) -> bool:
    """Does this record name exactly these damaged lines? (`torn_lines` is 1 in old logs.)"""
    torn = torn_region(region)
    return (
        record.get("event") == RECOVERED_EVENT
        and record.get("torn_line") == region[0].number
        and record.get("torn_lines", 1) == len(region)
        and record.get("torn_bytes") == len(torn)
        and record.get("torn_sha256") == hashlib.sha256(torn).hexdigest()
    )


def _chain_problem(
    lines: list[_Line],
    parsed: list[dict[str, Any] | str],
    index: int,
    prev_seq: int,
    prev_hash: str,
) -> str | None:
    """Why record `index` does not follow the one before it, told from the whole file.

    A gap in seq is a deletion only if the missing records are nowhere later in the file
    (else they were moved: reordered); a seq that repeats an earlier record's is an insertion
    (a copy, or a second record with that number); a seq that goes back is a reorder.
    """
    record = parsed[index]
    assert isinstance(record, dict)  # noqa: S101 - callers pass records only
    seq = record["seq"]
    if record["hash"] != record_hash(record):
        return f"record seq {seq} was edited: its hash does not match its content"
    if seq == prev_seq + 1 and record["prev"] == prev_hash:
        return None  # the common case: only a break reads the rest of the file
    others = [
        (line.number, value)
        for line, value in zip(lines, parsed, strict=True)
        if isinstance(value, dict) and line is not lines[index]
    ]
    if seq > prev_seq + 1:
        wanted = range(prev_seq + 1, seq)
        later = [(n, v["seq"]) for n, v in others if n > lines[index].number and v["seq"] in wanted]
        if later:
            number, moved = later[0]
            return (
                f"records were reordered: seq {seq} comes right after seq {prev_seq}, "
                f"seq {moved} is further down at line {number}"
            )
        missing = f"seq {prev_seq + 1}" if seq == prev_seq + 2 else f"seq {prev_seq + 1}-{seq - 1}"
        return f"records were deleted: {missing} missing before this record (seq {seq})"
    if seq <= prev_seq:
        earlier = [n for n, v in others if n < lines[index].number and v["seq"] == seq]
        copies = [
            n for n, v in others if n < lines[index].number and v["hash"] == record["hash"]
        ]
        if copies:
            return f"a record was inserted: a copy of line {copies[0]} (seq {seq})"
        if seq == prev_seq and earlier:
            return (
                f"a record was inserted: line {earlier[-1]} and this line both carry seq {seq}"
            )
        return f"records were reordered: seq {seq} comes after seq {prev_seq}"
    if record["prev"] != prev_hash:
        before = lines[index - 1].number if index > 0 else None
        return (
            f"record seq {seq} does not chain to the record before it (line {before}): that "
            "record was rewritten with a recomputed hash, or replaced or inserted"
        )
    return None


def as_instant(value: datetime | date, *, end: bool) -> datetime:
    """A time as an aware UTC instant; a date is its first (or with `end`, last) moment."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if end:
        return datetime(value.year, value.month, value.day, 23, 59, 59, 999999, tzinfo=UTC)
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _cut_back(fd: int, size: int) -> None:
    """Undo a write that failed part-way; if even that fails, the reader copes (torn tail)."""
    with suppress(OSError):
        os.ftruncate(fd, size)
