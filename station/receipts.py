"""Signed receipts: what crossed (or did not), who approved it, and where the log stood.

At the end of every transfer (imported, rejected, aborted) the station writes one receipt,
`<home>/receipts/<bundle digest hex>-<UTC time>.json`: a DSSE envelope (payloadType
`application/vnd.in-toto+json`) holding an in-toto Statement v1 whose predicateType is
`https://transfer-station.example/receipt/v1`, signed with the station key. Standard tools
read it (any DSSE verifier with the station's public key; in-toto's statement model); the
station's own `station receipt verify` checks it offline. Fields: docs/audit.md.

A receipt that cannot be made or signed never turns the transfer's outcome into something
else and never raises: it is audited (`receipt-failed`, with the reason) and the transfer's
message says so; `receipt-written` names the file otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from station.atomic import replace_file
from station.audit import AuditError, AuditLog
from station.errors import StationError
from station.signer_checks import RECEIPT_PREDICATE, STATEMENT_TYPE
from station.signing import (
    RECEIPT_PAYLOAD,
    Envelope,
    SigningError,
    StationSigner,
    canonical_payload,
    fingerprint,
    verify_envelope,
)

if TYPE_CHECKING:
    from station.workflow import Transfer

RECEIPTS_DIR = "receipts"
OUTCOMES = {"done": "imported", "rejected": "rejected", "aborted": "aborted"}


def _hex(digest: str) -> str:
    return digest.removeprefix("sha256:")


def build_statement(
    transfer: Transfer,
    *,
    station: str,
    audit_seq: int,
    audit_head: str,
    finished: datetime,
    findings: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The in-toto statement for one finished transfer, from its public attributes."""
    bundle, verification, landed = transfer.bundle, transfer.verification, transfer.receipt
    subjects: list[dict[str, Any]] = [
        {"name": "audit-log", "digest": {"sha256": _hex(audit_head)}}
    ]
    bundle_doc = None
    if bundle is not None:
        info = bundle.info
        name = info.name if info is not None else bundle.manifest_name
        subjects.append({"name": f"bundle:{name}", "digest": {"sha256": _hex(bundle.digest)}})
        bundle_doc = {
            "digest": bundle.digest,
            "name": info.name if info else None,
            "channel": info.channel if info else None,
            "sequence": info.sequence if info else None,
            "format": bundle.format.value,
            "manifest": bundle.manifest_name,
        }
    if landed is not None:
        for image in landed.images:
            if image.manifest_digest.startswith("sha256:"):
                for reference in image.references or ("",):
                    subjects.append(
                        {
                            "name": reference or f"image@{image.manifest_digest}",
                            "digest": {"sha256": _hex(image.manifest_digest)},
                        }
                    )
        for delivered in landed.files:
            subjects.append(
                {"name": f"file:{delivered.path}", "digest": {"sha256": delivered.sha256}}
            )
    verdict = None
    signers: list[dict[str, Any]] = []
    if verification is not None:
        verdict = {
            "verdict": verification.verdict,
            "verification_id": verification.id,
            "reasons": [problem.to_json() for problem in verification.problems],
            "warnings": [warning.to_json() for warning in verification.warnings],
        }
        signers = [
            {"name": s.signer, "scheme": s.scheme, "fingerprint": s.fingerprint, "file": s.file}
            for s in verification.signatures
            if s.valid
        ]
    approvals = [
        {
            "operator": a.operator,
            "role": str(a.role),
            "order": a.order,
            "at": a.at.astimezone(UTC).isoformat(timespec="seconds"),
            "noninteractive": a.noninteractive,
        }
        for a in transfer.approvals
        if verification is not None and a.verification_id == verification.id
    ]
    predicate = {
        "station": station,
        "transfer": transfer.id,
        "outcome": OUTCOMES.get(transfer.state.value, transfer.state.value),
        "message": transfer.message,
        "abort_reason": transfer.abort_reason,
        "finished": finished.astimezone(UTC).isoformat(timespec="seconds"),
        "media": transfer.device.to_json() if transfer.device is not None else None,
        "bundle": bundle_doc,
        "verdict": verdict,
        "signers": signers,
        "approvals": approvals,
        "landed": landed.to_json() if landed is not None else None,
        "findings": dict(findings) if findings is not None else None,
        "audit": {"seq": audit_seq, "head": audit_head},
    }
    return {
        "_type": STATEMENT_TYPE,
        "subject": subjects,
        "predicateType": RECEIPT_PREDICATE,
        "predicate": predicate,
    }


def receipt_path(home: Path, digest: str | None, finished: datetime) -> Path:
    """`<home>/receipts/<digest hex>-<UTC time>.json` (`none` when no bundle was read)."""
    stamp = finished.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    folder = home / RECEIPTS_DIR
    base = f"{_hex(digest) if digest else 'none'}-{stamp}"
    path, n = folder / f"{base}.json", 1
    while path.exists():
        n += 1
        path = folder / f"{base}-{n}.json"
    return path


@dataclass(frozen=True)
class ReceiptOutcome:
    """What happened to the receipt: its file, or why there is none."""

    path: Path | None
    problem: str | None = None


def record_receipt(
    transfer: Transfer,
    *,
    signer: StationSigner,
    public_key: Ed25519PublicKey,
    audit: AuditLog,
    home: Path,
    findings: Mapping[str, Any] | None = None,
) -> ReceiptOutcome:
    """Write, sign and audit the receipt of a finished transfer, then checkpoint the log.

    Never raises: a failure is audited as `receipt-failed` and added to the transfer's
    message (before listeners hear of the final state), so the kiosk and the CLI show it.
    """
    digest = transfer.bundle.digest if transfer.bundle is not None else None
    finished = datetime.now(UTC)
    seq = 0
    try:
        seq, head = audit.position()
        statement = build_statement(
            transfer, station=fingerprint(public_key), audit_seq=seq, audit_head=head,
            finished=finished, findings=findings,
        )
        envelope = signer.sign(RECEIPT_PAYLOAD, canonical_payload(statement))
        path = receipt_path(home, digest, finished)
        path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        replace_file(path, envelope.to_bytes(), mode=0o644)
        outcome = ReceiptOutcome(path)
    except (StationError, OSError, ValueError, TypeError) as exc:
        reason = exc.message if isinstance(exc, StationError) else f"{type(exc).__name__}: {exc}"
        outcome = ReceiptOutcome(None, reason)
    try:
        if outcome.path is not None:
            audit.append(
                "receipt-written", transfer=transfer.id, digest=digest,
                path=str(outcome.path), audit_seq=seq,
            )
        else:
            audit.append(
                "receipt-failed", transfer=transfer.id, digest=digest, reason=outcome.problem
            )
        audit.checkpoint()
    except AuditError as exc:  # the log itself failed: say so, the outcome stands
        outcome = ReceiptOutcome(outcome.path, (outcome.problem or "") + f"; {exc.message}")
    if outcome.path is not None and outcome.problem is None:
        transfer.message += f"; signed receipt {outcome.path.name}"
    else:
        transfer.message += f"; NO SIGNED RECEIPT: {outcome.problem}"
    return outcome


@dataclass(frozen=True)
class ReceiptCheck:
    """`station receipt verify`: is the file a receipt signed by this station key?"""

    valid: bool
    reason: str
    statement: dict[str, Any] | None = None
    keyid: str | None = None

    def to_json(self, path: Path, key: Ed25519PublicKey) -> dict[str, Any]:
        predicate = (self.statement or {}).get("predicate") or {}
        return {
            "valid": self.valid,
            "file": str(path),
            "reason": self.reason,
            "station_key": fingerprint(key),
            "payload_type": RECEIPT_PAYLOAD if self.statement is not None else None,
            "predicate_type": (self.statement or {}).get("predicateType"),
            "outcome": predicate.get("outcome"),
            "bundle_digest": (predicate.get("bundle") or {}).get("digest"),
            "audit": predicate.get("audit"),
        }


def read_envelope(path: Path) -> Envelope:
    """The envelope in a receipt file; SigningError if unreadable, OSError passes."""
    return Envelope.from_bytes(path.read_bytes())


def check_receipt(envelope: Envelope, key: Ed25519PublicKey) -> ReceiptCheck:
    """Signature by `key` over the PAE, payload type, statement type and predicate type."""
    if envelope.payload_type != RECEIPT_PAYLOAD:
        return ReceiptCheck(False, f"payloadType is {envelope.payload_type!r}, not a receipt")
    if not verify_envelope(envelope, key):
        return ReceiptCheck(False, "the signature is not the station key's over this receipt")
    try:
        statement = envelope.payload_json()
    except SigningError as exc:
        return ReceiptCheck(False, exc.message)
    if statement.get("_type") != STATEMENT_TYPE:
        return ReceiptCheck(False, "the payload is not an in-toto Statement v1", statement)
    if statement.get("predicateType") != RECEIPT_PREDICATE:
        return ReceiptCheck(False, "the predicateType is not a transfer receipt", statement)
    keyid = next((s.keyid for s in envelope.signatures), None)
    return ReceiptCheck(True, "signed by the station key", statement, keyid)
