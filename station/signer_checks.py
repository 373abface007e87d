"""What the station key will sign, checked where the key is (root), not where it is asked.

A compromised kiosk user can call the signing helper with any bytes. Without these checks it
could have the station vouch for a rewritten audit log (a checkpoint over a forged chain), a
transfer that never happened (a receipt), or records that were never written (an export).
So the helper signs only:

- payloads of the station's three DSSE payload types, as canonical JSON (sorted keys, no
  spaces, no duplicate keys): never bytes chosen freely by the caller, and never anything a
  verifier of another protocol could take for its own (DSSE's PAE binds the type);
- a **checkpoint** only over the audit log as it is on disk (its chain intact, record `count`
  having hash `head`) and only if that log still holds what the previous checkpoint signed
  (the state kept in the root-owned signer folder): truncating, emptying or rewriting the log
  and then asking for a fresh checkpoint is refused. Each signed checkpoint is also written to
  `<signer dir>/checkpoint.json`, root-owned, as the anchor `station audit verify` checks
  the log against;
- a **receipt** only if the audit record it names (seq and hash) is in the log: a receipt
  is tied to the log position the transfer ended at, so a forged one needs forged records,
  which the chain, the checkpoints and the syslog copy expose;
- an **export** only if every record in it is, byte for byte, the log's record of that seq,
  and every receipt in it carries a valid station signature.

What remains possible for someone who controls the kiosk user: appending records of their
own to the log (it is theirs to write), and so getting those checkpointed and receipted.
docs/audit.md says so.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from station.atomic import replace_file
from station.audit import AuditLog
from station.signing import (
    CHECKPOINT_PAYLOAD,
    MAX_PAYLOAD_BYTES,
    RECEIPT_PAYLOAD,
    SIGNABLE_TYPES,
    Envelope,
    SignerPaths,
    SigningError,
    canonical_payload,
    load_private_key,
    sign_with_key,
    verify_envelope,
)

CHECKPOINT_TYPE = "https://transfer-station.example/audit-checkpoint/v1"
EXPORT_TYPE = "https://transfer-station.example/audit-export/v1"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
RECEIPT_PREDICATE = "https://transfer-station.example/receipt/v1"
STATE_NAME = "checkpoint-state.json"
ANCHOR_NAME = "checkpoint.json"


def _strict_object(payload: bytes) -> dict[str, Any]:
    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [key for key, _ in pairs]
        if len(keys) != len(set(keys)):
            raise SigningError("refused: the payload repeats a key")
        return dict(pairs)

    try:
        value = json.loads(payload.decode("utf-8"), object_pairs_hook=no_duplicates)
    except (UnicodeDecodeError, ValueError) as exc:
        raise SigningError(f"refused: the payload is not JSON ({exc})") from exc
    if not isinstance(value, dict) or canonical_payload(value) != payload:
        raise SigningError("refused: the payload is not one canonical JSON object")
    return value


def check_and_sign(payload_type: str, payload: bytes, paths: SignerPaths) -> Envelope:
    """Check the request against the log and the signer's state, then sign it."""
    if payload_type not in SIGNABLE_TYPES:
        raise SigningError(f"refused: the station does not sign {payload_type!r}")
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise SigningError("refused: the payload is too large")
    doc = _strict_object(payload)
    key = load_private_key(paths.key)
    log = AuditLog(paths.home / "audit.log")
    if payload_type == CHECKPOINT_PAYLOAD:
        count, head = _check_checkpoint(doc, log, paths)
        envelope = sign_with_key(key, payload_type, payload)
        replace_file(
            paths.signer_dir / STATE_NAME,
            canonical_payload({"count": count, "head": head}),
            mode=0o600,
        )
        replace_file(paths.signer_dir / ANCHOR_NAME, envelope.to_bytes(), mode=0o644)
        return envelope
    if payload_type == RECEIPT_PAYLOAD:
        _check_receipt(doc, log)
    else:
        _check_export(doc, log, key.public_key())
    return sign_with_key(key, payload_type, payload)


def _records_by_seq(log: AuditLog) -> dict[int, dict[str, Any]]:
    check = log.verify()
    if not check.ok:
        raise SigningError(
            f"refused: the audit log's chain is broken at line {check.broken_at} "
            f"({check.reason}); the station signs nothing over it"
        )
    return {record["seq"]: record for record in log.intact_records()}


def _check_checkpoint(
    doc: Mapping[str, Any], log: AuditLog, paths: SignerPaths
) -> tuple[int, str]:
    if set(doc) != {"_type", "count", "head", "time"} or doc["_type"] != CHECKPOINT_TYPE:
        raise SigningError("refused: not a checkpoint payload")
    count, head = doc["count"], doc["head"]
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise SigningError("refused: a checkpoint's count must be a whole number")
    if not isinstance(head, str) or not isinstance(doc["time"], str):
        raise SigningError("refused: a checkpoint's head and time must be strings")
    records = _records_by_seq(log)
    if count and (count not in records or records[count]["hash"] != head):
        raise SigningError(f"refused: the audit log has no record {count} with hash {head}")
    previous = _state(paths)
    if previous is not None:
        last_count, last_head = previous
        held = records.get(last_count, {}).get("hash") if last_count else None
        if count < last_count or (last_count and held != last_head):
            raise SigningError(
                f"refused: the audit log no longer holds what the last checkpoint signed "
                f"(records 1-{last_count}, head {last_head}): it was truncated, emptied or "
                "rewritten",
                hint="keep the log as evidence; an administrator must look (docs/audit.md)",
            )
    return count, head


def _state(paths: SignerPaths) -> tuple[int, str] | None:
    try:
        doc = json.loads((paths.signer_dir / STATE_NAME).read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise SigningError(f"refused: the signer's checkpoint state is unreadable ({exc})") from exc
    return int(doc["count"]), str(doc["head"])


def _check_receipt(doc: Mapping[str, Any], log: AuditLog) -> None:
    predicate = doc.get("predicate")
    if (
        doc.get("_type") != STATEMENT_TYPE
        or doc.get("predicateType") != RECEIPT_PREDICATE
        or not isinstance(doc.get("subject"), list)
        or not doc["subject"]
        or not isinstance(predicate, dict)
    ):
        raise SigningError("refused: not a transfer receipt statement")
    audit = predicate.get("audit")
    if not isinstance(audit, dict):
        raise SigningError("refused: the receipt names no audit record")
    seq, head = audit.get("seq"), audit.get("head")
    record = _records_by_seq(log).get(seq) if isinstance(seq, int) else None
    if record is None or record["hash"] != head:
        raise SigningError(f"refused: the audit log has no record {seq} with hash {head}")


def _check_export(doc: Mapping[str, Any], log: AuditLog, public: Any) -> None:
    if doc.get("_type") != EXPORT_TYPE:
        raise SigningError("refused: not an audit export")
    records, receipts = doc.get("records"), doc.get("receipts")
    if not isinstance(records, list) or not isinstance(receipts, list):
        raise SigningError("refused: an export holds lists of records and receipts")
    held = _records_by_seq(log)
    for record in records:
        seq = record.get("seq") if isinstance(record, dict) else None
        if not isinstance(seq, int) or held.get(seq) != record:
            raise SigningError(f"refused: record {seq} of the export is not the log's")
    for entry in receipts:
        envelope = Envelope.from_json(entry.get("envelope") if isinstance(entry, dict) else None)
        if not verify_envelope(envelope, public):
            raise SigningError("refused: a receipt in the export is not signed by this station")
    log_doc = doc.get("log")
    if not isinstance(log_doc, dict):
        raise SigningError("refused: the export does not say where the log stood")
    count = log_doc.get("count")
    if not isinstance(count, int) or held.get(count, {}).get("hash") != log_doc.get("head"):
        raise SigningError("refused: the export's log position is not the log's")


def anchor_path(signer_dir: Path) -> Path:
    """The latest signed checkpoint, root-owned: what `audit verify` checks the log against."""
    return signer_dir / ANCHOR_NAME
