"""`station audit verify|show`: check the hash chain, read the trail back with filters.

`verify` exits 0 when every full record is intact and chained (a torn final line from a crash
is reported, not counted as tampering), 1 when the chain is broken, naming the first line that
does not fit. `show` prints records oldest first, as text or JSON lines.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date, datetime
from typing import Any

from station.audit import AuditLog
from station.config import StationConfig
from station.errors import StationError, UsageError

EXIT_OK = 0
EXIT_REJECTED = 1
_SHOWN_FIRST = ("seq", "time", "event", "actor", "digest")
_HIDDEN = frozenset({"prev", "hash"})


def register(subparsers: Any) -> None:
    """Add `audit verify` and `audit show` to the `station` parser."""
    audit = subparsers.add_parser(
        "audit",
        help="verify or show the audit log",
        description="Check the audit log's hash chain, or show its records.",
    )
    actions = audit.add_subparsers(dest="audit_command", metavar="ACTION")
    actions.required = True

    verify = actions.add_parser(
        "verify",
        help="check the hash chain (exit 1 and name the first broken record)",
        description="Check every record's hash and its link to the record before. Exit 0: "
        "intact (a torn last line from a crash is reported); 1: broken, the first broken "
        "line is named; 2: the log cannot be read.",
    )
    verify.add_argument("--json", action="store_true", help="print the result as JSON")
    verify.set_defaults(func=run_verify)

    show = actions.add_parser(
        "show",
        help="print records, filtered by date, operator or bundle digest",
        description="Print audit records, oldest first. Filters combine (all must match).",
    )
    show.add_argument("--since", metavar="DATE", help="from this UTC date or ISO time on")
    show.add_argument("--until", metavar="DATE", help="up to this UTC date (whole day) or time")
    show.add_argument("--operator", metavar="NAME", help="records whose actor is NAME")
    show.add_argument("--digest", metavar="D", help="records about this bundle digest (prefix)")
    show.add_argument("--json", action="store_true", help="one JSON record a line, as stored")
    show.set_defaults(func=run_show)


def _log(args: argparse.Namespace) -> AuditLog:
    # Reading needs no syslog forwarding: nothing is appended.
    return AuditLog(StationConfig.load(args.home).audit_log)


def run_verify(args: argparse.Namespace) -> int:
    log = _log(args)
    if not log.path.exists():
        raise StationError(
            f"there is no audit log at {log.path}",
            hint="the station writes it from its first start; on a station in use, a missing "
            "log means it was removed",
        )
    check = log.verify()
    if args.json:
        print(
            json.dumps(
                {
                    "ok": check.ok,
                    "path": str(log.path),
                    "records": check.records,
                    "broken_at": check.broken_at,
                    "reason": check.reason,
                    "torn": check.torn,
                    "torn_bytes": check.torn_bytes,
                    "recovered": list(check.recovered),
                    "head": check.head,
                },
                indent=2,
            )
        )
    else:
        stream = sys.stdout if check.ok else sys.stderr
        print(f"{log.path}: {check.describe()}", file=stream)
    return EXIT_OK if check.ok else EXIT_REJECTED


def _when(text: str | None, flag: str) -> date | datetime | None:
    if text is None:
        return None
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        return datetime.fromisoformat(text)
    except ValueError as exc:
        raise UsageError(
            f"{flag} {text!r} is not a date", hint="use YYYY-MM-DD or an ISO time"
        ) from exc


def run_show(args: argparse.Namespace) -> int:
    records = _log(args).records(
        since=_when(args.since, "--since"),
        until=_when(args.until, "--until"),
        actor=args.operator,
        digest=args.digest,
    )
    for record in records:
        if args.json:
            print(json.dumps(record, sort_keys=True, ensure_ascii=False))
        else:
            print(_line(record))
    return EXIT_OK


def _line(record: dict[str, Any]) -> str:
    parts = [
        f"#{record['seq']}",
        record["time"],
        record["event"],
        f"actor={record.get('actor') or '-'}",
    ]
    if record.get("digest"):
        parts.append(f"digest={record['digest']}")
    rest = {k: v for k, v in record.items() if k not in _HIDDEN and k not in _SHOWN_FIRST}
    parts.extend(
        f"{key}={json.dumps(value, ensure_ascii=False)}" for key, value in sorted(rest.items())
    )
    return " ".join(parts)
