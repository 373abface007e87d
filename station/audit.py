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

A crash can leave only the last line torn (a prefix of a record, possibly followed by NUL
bytes, never a newline). `verify` reports such a tail as `torn`, not as tampering, and the
chain stays valid up to the last full record. The next `append` terminates the torn line and
writes an `audit-recovered` record that names the torn bytes by length and SHA-256, so the
evidence stays in the file and the chain continues. See docs/audit.md.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import syslog
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from station.config import StationConfig
from station.errors import StationError

GENESIS = "sha256:" + "0" * 64
RECOVERED_EVENT = "audit-recovered"
SYSLOG_IDENT = "transfer-station"
SYSLOG_FACILITIES = {"authpriv": syslog.LOG_AUTHPRIV, "local0": syslog.LOG_LOCAL0}

# The documented vocabulary (docs/audit.md). `append` refuses anything else so that a typo
# cannot create an event an auditor's filter would miss.
EVENTS = frozenset(
    {
        "media-inserted",
        "media-removed",
        "media-refused",
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
        "state-change",
        "step-refused",
        "station-started",
        RECOVERED_EVENT,
    }
)
_RESERVED = frozenset({"seq", "time", "event", "actor", "prev", "hash"})
_TAIL_BLOCK = 64 * 1024


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
    when the file ends in a partial line, the trace of a crash during a write.
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
            text += f"; torn lines from earlier crashes recovered at line {lines}"
        if self.torn:
            text += (
                f"; the last line is torn ({self.torn_bytes} bytes, a write interrupted by a "
                "crash), it will be closed by the next record"
            )
        return text


@dataclass
class _Line:
    number: int
    raw: bytes
    complete: bool


@dataclass
class _Tail:
    """The last full record (for seq and prev) and the torn bytes after it, if any."""

    seq: int = 0
    hash: str = GENESIS
    torn: bytes = b""
    torn_line: int = 0
    unterminated: bool = False  # the last record is whole but lost its newline


def _split_lines(data: bytes) -> Iterator[_Line]:
    start = 0
    number = 0
    while start < len(data):
        number += 1
        end = data.find(b"\n", start)
        if end < 0:
            yield _Line(number, data[start:], complete=False)
            return
        yield _Line(number, data[start:end], complete=True)
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


class AuditLog:
    """One audit log file. Thread-safe; several processes may append to the same file."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        syslog_facility: int | None = None,
        forward: Callable[[str], None] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        """`forward` receives each written line (default: syslog when a facility is given)."""
        self.path = Path(path)
        self._lock = threading.Lock()
        self._clock = clock or (lambda: datetime.now(UTC))
        self._forward = forward
        if forward is None and syslog_facility is not None:
            syslog.openlog(SYSLOG_IDENT, syslog.LOG_PID, syslog_facility)
            self._forward = _syslog_forwarder(syslog_facility)

    @classmethod
    def from_config(cls, config: StationConfig) -> AuditLog:
        """The station's log; `[audit] syslog = "authpriv"` (default), `"local0"` or `"off"`."""
        table = config.table("audit")
        choice = table.get("syslog", "authpriv")
        if choice == "off":
            return cls(config.audit_log)
        if choice not in SYSLOG_FACILITIES:
            raise StationError(
                f"{config.config_path}: [audit] syslog = {choice!r} is not known",
                hint='use "authpriv", "local0" or "off"',
            )
        return cls(config.audit_log, syslog_facility=SYSLOG_FACILITIES[choice])

    # -- writing -------------------------------------------------------------------------

    def append(self, event: str, *, actor: str | None = None, **fields: Any) -> dict[str, Any]:
        """Write one record, durably, and return it. Raises AuditError if it cannot."""
        if event not in EVENTS:
            raise AuditError(f"unknown audit event {event!r}", hint="see docs/audit.md")
        clash = _RESERVED & set(fields)
        if clash:
            raise AuditError(f"audit fields may not be named {', '.join(sorted(clash))}")
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
                tail = self._read_tail()
                prefix = b"\n" if tail.unterminated else b""
                seq, prev = tail.seq, tail.hash
                if tail.torn:
                    recovered = self._seal(
                        seq + 1,
                        prev,
                        RECOVERED_EVENT,
                        None,
                        {
                            "torn_line": tail.torn_line,
                            "torn_bytes": len(tail.torn),
                            "torn_sha256": hashlib.sha256(tail.torn).hexdigest(),
                        },
                    )
                    prefix = b"\n" + canonical(recovered) + b"\n"
                    seq, prev = recovered["seq"], recovered["hash"]
                record = self._seal(seq + 1, prev, event, actor, fields)
                line = prefix + canonical(record) + b"\n"
                _write_all(fd, line)
                os.fsync(fd)
            except OSError as exc:
                raise AuditError(
                    f"cannot write the audit log {self.path}: {exc.strerror}",
                    hint="the station stops until the log can be written; check the disk",
                ) from exc
            finally:
                os.close(fd)  # releases the flock
        if self._forward is not None:
            for part in line.splitlines():
                if part:
                    self._forward(part.decode("utf-8"))
        return record

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
        """The last full record and any torn bytes after it, read from the end of the file."""
        try:
            with open(self.path, "rb") as handle:
                size = handle.seek(0, os.SEEK_END)
                block = _TAIL_BLOCK
                while True:
                    start = max(0, size - block)
                    handle.seek(start)
                    data = handle.read(size - start)
                    last_nl = data.rfind(b"\n")
                    before = data.rfind(b"\n", 0, last_nl) if last_nl >= 0 else -1
                    if start == 0 or before >= 0:
                        break
                    block *= 4
        except FileNotFoundError:
            return _Tail()
        tail = _Tail(torn=data[last_nl + 1 :])
        last = data[before + 1 : last_nl]
        if tail.torn:
            whole = _parse(tail.torn)
            if isinstance(whole, dict) and whole["hash"] == record_hash(whole):
                tail = _Tail(unterminated=True)
                last = data[last_nl + 1 :]
            else:
                tail.torn_line = self._count_lines() + 1
                if last_nl < 0:
                    return tail  # the first record is torn
        elif last_nl < 0:
            return tail  # an empty log
        parsed = _parse(last)
        if isinstance(parsed, str) or parsed["hash"] != record_hash(parsed):
            raise AuditError(
                f"the last record of the audit log {self.path} is damaged",
                hint="run `station audit verify`; an administrator must look at the log",
            )
        tail.seq, tail.hash = parsed["seq"], parsed["hash"]
        return tail

    def _count_lines(self) -> int:
        with open(self.path, "rb") as handle:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))

    # -- reading -------------------------------------------------------------------------

    def _read_all(self) -> bytes:
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return b""
        except OSError as exc:
            raise AuditError(f"cannot read the audit log {self.path}: {exc.strerror}") from exc

    def verify(self) -> AuditCheck:
        """Check every record and the chain; name the first line that does not fit."""
        prev_hash, prev_seq, count = GENESIS, 0, 0
        recovered: list[int] = []
        pending_torn: _Line | None = None
        pending_reason = ""
        for line in _split_lines(self._read_all()):
            parsed = _parse(line.raw)
            if not line.complete and isinstance(parsed, str):
                if pending_torn is not None:
                    return AuditCheck(
                        False, count, pending_torn.number, pending_reason, head=prev_hash
                    )
                if _looks_torn(line.raw):
                    return AuditCheck(
                        True, count, torn=True, torn_bytes=len(line.raw),
                        recovered=tuple(recovered), head=prev_hash,
                    )
                return AuditCheck(
                    False, count, line.number,
                    "the last line is not a torn write: bytes were added or the final newline "
                    "was changed", head=prev_hash,
                )
            if isinstance(parsed, str):
                if pending_torn is None and _looks_torn(line.raw):
                    pending_torn, pending_reason = line, parsed
                    continue  # acceptable only if the next record recovers it
                return AuditCheck(False, count, line.number, parsed, head=prev_hash)
            if pending_torn is not None:
                if not _recovers(parsed, pending_torn):
                    return AuditCheck(
                        False, count, pending_torn.number, pending_reason, head=prev_hash
                    )
                recovered.append(pending_torn.number)
                pending_torn = None
            problem = _chain_problem(parsed, prev_seq, prev_hash)
            if problem:
                return AuditCheck(False, count, line.number, problem, head=prev_hash)
            prev_seq, prev_hash = parsed["seq"], parsed["hash"]
            count += 1
        if pending_torn is not None:
            return AuditCheck(False, count, pending_torn.number, pending_reason, head=prev_hash)
        return AuditCheck(True, count, recovered=tuple(recovered), head=prev_hash)

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
        low = _as_instant(since, end=False) if since is not None else None
        high = _as_instant(until, end=True) if until is not None else None
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


def _recovers(record: dict[str, Any], torn: _Line) -> bool:
    return (
        record.get("event") == RECOVERED_EVENT
        and record.get("torn_line") == torn.number
        and record.get("torn_bytes") == len(torn.raw)
        and record.get("torn_sha256") == hashlib.sha256(torn.raw).hexdigest()
    )


def _chain_problem(record: dict[str, Any], prev_seq: int, prev_hash: str) -> str | None:
    if record["hash"] != record_hash(record):
        return "the record was edited (its hash does not match its content)"
    if record["seq"] != prev_seq + 1:
        if record["seq"] <= prev_seq:
            return f"record seq {record['seq']} after seq {prev_seq}: records were reordered"
        return f"record seq {record['seq']} after seq {prev_seq}: records were deleted"
    if record["prev"] != prev_hash:
        return "the record does not follow the one before it (deleted, inserted or reordered)"
    return None


def _as_instant(value: datetime | date, *, end: bool) -> datetime:
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


def _syslog_forwarder(facility: int) -> Callable[[str], None]:
    def forward(line: str) -> None:
        syslog.syslog(facility | syslog.LOG_NOTICE, line)

    return forward
