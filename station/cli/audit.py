"""`station audit verify|show|export|verify-export`: the chain, the signed proof, the trail.

`verify` exits 0 when every full record is intact and chained (a torn final line from a crash
is reported, not counted as tampering), 1 when the chain is broken, naming the first line that
does not fit. `show` prints records oldest first, as text or JSON lines.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date, datetime
from pathlib import Path
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
    verify.add_argument(
        "--station-key", metavar="PUB",
        help="also check the signed checkpoints with the station's public key (station.pub): "
        "finds truncation, emptying, a deleted last line, a chain rewritten with recomputed "
        "hashes and forged checkpoints; says how far back the signed proof reaches",
    )
    verify.add_argument(
        "--anchor", metavar="FILE", action="append", default=[],
        help="a signed checkpoint or receipt kept elsewhere that the log must still hold "
        "(repeatable; default: the signer's latest checkpoint, <signer dir>/checkpoint.json)",
    )
    verify.set_defaults(func=run_verify)

    export = actions.add_parser(
        "export",
        help="write the records, receipts and checkpoints of a period as one signed file",
        description="Write the records from DATE on (to --until), the receipts of transfers "
        "that ended then and the checkpoints, as one DSSE envelope signed by the station key. "
        "Exit 0 written; 2 when it cannot be signed or written.",
    )
    export.add_argument("out", metavar="OUT", help="the file to write (not overwritten)")
    export.add_argument("--since", metavar="DATE", required=True,
                        help="from this UTC date or ISO time on")
    export.add_argument("--until", metavar="DATE", help="up to this UTC date (whole day) or time")
    export.set_defaults(func=run_export)

    check = actions.add_parser(
        "verify-export",
        help="check an audit export offline with the station key (exit 0, 1 or 2)",
        description="Check an export from `station audit export` with the station's public "
        "key only: its signature, the chain of its records, its checkpoints and receipts. "
        "Exit 0 valid, 1 invalid, 2 the file or key cannot be read.",
    )
    check.add_argument("file", metavar="FILE")
    check.add_argument("--station-key", metavar="PUB", required=True,
                       help="the station's public key (station.pub, PEM)")
    check.add_argument("--json", action="store_true", help="print the result as JSON")
    check.set_defaults(func=run_verify_export)

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
    proof = _prove(args, log) if args.station_key and check.ok else None
    ok = check.ok and (proof is None or proof.ok)
    if args.json:
        doc: dict[str, Any] = {
            "ok": ok,
            "path": str(log.path),
            "records": check.records,
            "broken_at": check.broken_at,
            "reason": check.reason,
            "torn": check.torn,
            "torn_bytes": check.torn_bytes,
            "recovered": list(check.recovered),
            "head": check.head,
        }
        if args.station_key:
            doc["proof"] = proof.to_json() if proof is not None else None
        print(json.dumps(doc, indent=2))
    else:
        stream = sys.stdout if ok else sys.stderr
        print(f"{log.path}: {check.describe()}", file=stream)
        if proof is not None:
            print(f"{log.path}: {proof.describe()}", file=stream)
    return EXIT_OK if ok else EXIT_REJECTED


def _prove(args: argparse.Namespace, log: AuditLog) -> Any:
    from station.checkpoints import audit_settings, prove, read_anchor
    from station.signer_checks import anchor_path
    from station.signing import load_public_key

    key = load_public_key(Path(args.station_key))
    files = [Path(p) for p in args.anchor]
    if not files:
        default = anchor_path(audit_settings(StationConfig.load(args.home)).signer_dir)
        if default.is_file():
            files.append(default)
    return prove(log, key, [read_anchor(path, key) for path in files])


def run_export(args: argparse.Namespace) -> int:
    from station.audit_export import build_export
    from station.checkpoints import audit_settings
    from station.signing import PUBLIC_NAME, make_signer

    config = StationConfig.load(args.home)
    out = Path(args.out)
    if out.exists():
        raise UsageError(f"{out} exists already", hint="name a new file")
    if not (config.home / PUBLIC_NAME).exists():
        raise StationError(
            "this station has no signing key: an export could not be checked",
            hint="run `station keys station-init` as root first",
        )
    settings = audit_settings(config)
    since = _when(args.since, "--since")
    assert since is not None  # noqa: S101 - required argument
    envelope = build_export(
        _log(args), config.home, make_signer(config.home, settings.signer_dir),
        since=since, until=_when(args.until, "--until"), signer_dir=settings.signer_dir,
    )
    try:
        out.write_bytes(envelope.to_bytes())
    except OSError as exc:
        raise StationError(f"cannot write {out}: {exc.strerror}") from exc
    doc = envelope.payload_json()
    print(
        f"{out}: {len(doc['records'])} records, {len(doc['receipts'])} receipts, "
        f"{len(doc['checkpoints'])} checkpoints, signed by the station key"
    )
    return EXIT_OK


def run_verify_export(args: argparse.Namespace) -> int:
    from station.audit_export import check_export
    from station.signing import Envelope, load_public_key

    path = Path(args.file)
    key = load_public_key(Path(args.station_key))
    try:
        envelope = Envelope.from_bytes(path.read_bytes())
    except OSError as exc:
        raise StationError(f"cannot read {path}: {exc.strerror}") from exc
    check = check_export(envelope, key)
    if args.json:
        print(json.dumps(check.to_json(path), indent=2))
    elif check.ok:
        print(
            f"{path}: valid: records seq {check.first_seq}-{check.last_seq} "
            f"({check.since} to {check.until or 'export time'}), {check.receipts} receipts, "
            f"{check.checkpoints} checkpoints; {check.reason}"
        )
    else:
        print(f"{path}: INVALID: {check.reason}", file=sys.stderr)
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
