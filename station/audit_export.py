"""An auditor's copy of a period: records, receipts and checkpoints, in one signed file.

`build_export` gathers the records of a period (a contiguous run of seq numbers, so the
chain inside it can be checked), the receipts of transfers that ended in it, the checkpoint
records among those records and the signer's latest checkpoint, and has the station sign the
whole as a DSSE envelope (payloadType `application/vnd.transfer-station.audit-export+json`).
The signer signs it only if every record is the log's own (station.signer_checks).
`check_export` verifies such a file on any machine, with the station's public key only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from station.audit import CHECKPOINT_EVENT, GENESIS, AuditLog, as_instant, record_hash
from station.checkpoints import checkpoint_problem
from station.receipts import RECEIPTS_DIR, check_receipt
from station.signer_checks import EXPORT_TYPE, anchor_path
from station.signing import (
    EXPORT_PAYLOAD,
    Envelope,
    SigningError,
    StationSigner,
    canonical_payload,
    verify_envelope,
)


def build_export(
    log: AuditLog,
    home: Path,
    signer: StationSigner,
    *,
    since: date | datetime,
    until: date | datetime | None = None,
    signer_dir: Path | None = None,
) -> Envelope:
    """The signed export of [since, until]; SigningError if the signer refuses."""
    low = as_instant(since, end=False)
    high = as_instant(until, end=True) if until is not None else None
    records = log.intact_records()
    inside = [
        n for n, r in enumerate(records)
        if datetime.fromisoformat(r["time"]) >= low
        and (high is None or datetime.fromisoformat(r["time"]) <= high)
    ]
    chosen = records[inside[0] : inside[-1] + 1] if inside else []
    seqs = {r["seq"] for r in chosen}
    receipts = []
    folder = home / RECEIPTS_DIR
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            envelope = Envelope.from_bytes(path.read_bytes())
            audit = envelope.payload_json().get("predicate", {}).get("audit", {})
        except (OSError, SigningError, AttributeError):
            continue
        if audit.get("seq") in seqs:
            receipts.append({"file": path.name, "envelope": envelope.to_json()})
    latest = None
    if signer_dir is not None and anchor_path(signer_dir).is_file():
        latest = Envelope.from_bytes(anchor_path(signer_dir).read_bytes()).to_json()
    last = records[-1] if records else {"seq": 0, "hash": GENESIS}
    payload = {
        "_type": EXPORT_TYPE,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "since": low.isoformat(),
        "until": high.isoformat() if high is not None else None,
        "log": {"count": last["seq"], "head": last["hash"]},
        "records": chosen,
        "receipts": receipts,
        "checkpoints": [r["seq"] for r in chosen if r["event"] == CHECKPOINT_EVENT],
        "latest_checkpoint": latest,
    }
    return signer.sign(EXPORT_PAYLOAD, canonical_payload(payload))


@dataclass(frozen=True)
class ExportCheck:
    """`station audit verify-export`: what the file proves, or the first thing wrong."""

    ok: bool
    reason: str
    records: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    since: str | None = None
    until: str | None = None
    receipts: int = 0
    checkpoints: int = 0

    def to_json(self, path: Path) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "file": str(path),
            "reason": self.reason,
            "records": self.records,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "since": self.since,
            "until": self.until,
            "receipts": self.receipts,
            "checkpoints": self.checkpoints,
        }


def check_export(envelope: Envelope, key: Ed25519PublicKey) -> ExportCheck:
    """Signature, then the chain inside the export, its checkpoints and its receipts."""
    if envelope.payload_type != EXPORT_PAYLOAD:
        return ExportCheck(False, f"payloadType is {envelope.payload_type!r}, not an export")
    if not verify_envelope(envelope, key):
        return ExportCheck(False, "the export is not signed by the station key")
    doc = envelope.payload_json()
    records = doc.get("records")
    receipts = doc.get("receipts")
    if doc.get("_type") != EXPORT_TYPE or not isinstance(records, list):
        return ExportCheck(False, "the payload is not an audit export")
    problem = _chain_problem(records)
    base = ExportCheck(
        False,
        "",
        records=len(records),
        first_seq=records[0]["seq"] if problem is None and records else None,
        last_seq=records[-1]["seq"] if problem is None and records else None,
        since=str(doc.get("since")),
        until=str(doc["until"]) if doc.get("until") else None,
    )
    if problem:
        return replace(base, reason=problem)
    by_seq = {r["seq"]: r for r in records}
    checkpoints = 0
    for record in records:
        if record["event"] == CHECKPOINT_EVENT:
            found = checkpoint_problem(record, _with_outside(by_seq, record), key)
            if found:
                return replace(base, reason=found)
            checkpoints += 1
    for entry in receipts if isinstance(receipts, list) else []:
        check = check_receipt(Envelope.from_json(entry.get("envelope")), key)
        name = entry.get("file")
        if not check.valid:
            return replace(base, reason=f"receipt {name}: {check.reason}")
        audit = (check.statement or {}).get("predicate", {}).get("audit", {})
        held = by_seq.get(audit.get("seq"))
        if held is not None and held["hash"] != audit.get("head"):
            return replace(base, reason=f"receipt {name} names a record the export changed")
    count = len(receipts) if isinstance(receipts, list) else 0
    return replace(
        base, ok=True,
        reason="signed by the station key; the records chain; checkpoints and receipts valid",
        receipts=count, checkpoints=checkpoints,
    )


def _with_outside(
    by_seq: dict[int, dict[str, Any]], checkpoint: dict[str, Any]
) -> dict[int, dict[str, Any]]:
    """A checkpoint whose record lies before the export is checked on its signature only."""
    count = checkpoint.get("count")
    if isinstance(count, int) and count not in by_seq:
        return {**by_seq, count: {"hash": checkpoint.get("head")}}
    return by_seq


def _chain_problem(records: Sequence[Any]) -> str | None:
    previous: dict[str, Any] | None = None
    for record in records:
        if not isinstance(record, dict) or not isinstance(record.get("seq"), int):
            return "the export holds something that is not an audit record"
        if record.get("hash") != record_hash(record):
            return f"record seq {record['seq']} was edited: its hash does not match"
        if previous is not None and (
            record["seq"] != previous["seq"] + 1 or record.get("prev") != previous["hash"]
        ):
            return f"record seq {record['seq']} does not follow seq {previous['seq']}"
        previous = record
    return None
