"""Signed checkpoints of the audit log, and the proof they give an auditor.

The hash chain shows edits inside the file, but not records cut off its end, an emptied
file, or a chain rewritten from some record on with every hash recomputed. A `checkpoint`
record fixes the log's extent with the station key: a DSSE envelope over
`{"_type": ".../audit-checkpoint/v1", "count": N, "head": H, "time": T}` (record N has hash H)
that directly follows record N. The station writes one at start-up, at the end of every
transfer and after every `[audit] checkpoint_every` records (default 100).

`prove` checks a log against the station's public key: every checkpoint in it is signed by
the key and still matches the records it signed, and each anchor (the latest checkpoint
the signer keeps root-owned in `<signer dir>/checkpoint.json`, an exported one, receipts)
is in the log. It says how far the proof reaches: records 1..N are fixed by a signature;
the few after the last checkpoint rest on the hash chain only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from station.audit import CHECKPOINT_EVENT, AuditLog
from station.config import StationConfig
from station.signer_checks import CHECKPOINT_TYPE
from station.signing import (
    CHECKPOINT_PAYLOAD,
    DEFAULT_SIGNER_DIR,
    Envelope,
    SigningError,
    StationSigner,
    canonical_payload,
    verify_envelope,
)

DEFAULT_CHECKPOINT_EVERY = 100


@dataclass(frozen=True)
class AuditSettings:
    """`[audit]` keys for checkpoints and the signer (syslog is read by AuditLog)."""

    checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY
    signer_dir: Path = DEFAULT_SIGNER_DIR


def audit_settings(config: StationConfig) -> AuditSettings:
    """`[audit] checkpoint_every` and `signer_dir`, as the configuration model checked them."""
    return AuditSettings(config.audit.checkpoint_every, Path(config.audit.signer_dir))


class SignedCheckpoints:
    """The audit log's Checkpointer: signs (count, head) with the station signer."""

    def __init__(
        self,
        signer: StationSigner,
        every: int = DEFAULT_CHECKPOINT_EVERY,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.signer = signer
        self._every = every
        self._clock = clock or (lambda: datetime.now(UTC))

    @property
    def every(self) -> int:
        return self._every

    def sign(self, count: int, head: str) -> dict[str, Any]:
        payload = {
            "_type": CHECKPOINT_TYPE,
            "count": count,
            "head": head,
            "time": self._clock().astimezone(UTC).isoformat(timespec="seconds"),
        }
        envelope = self.signer.sign(CHECKPOINT_PAYLOAD, canonical_payload(payload))
        return {"count": count, "head": head, "envelope": envelope.to_json()}


@dataclass(frozen=True)
class Anchor:
    """Something signed that says where the log stood: a checkpoint kept apart, a receipt."""

    source: str  # for the operator: which file
    envelope: Envelope
    seq: int  # the record it fixes
    head: str
    is_checkpoint: bool  # then the log must hold this very checkpoint as record seq + 1


@dataclass(frozen=True)
class Proof:
    """What the station key proves about a log; `problem` names the first thing wrong."""

    ok: bool
    records: int
    checkpoints: int = 0
    proven_through: int = 0  # records 1..N are fixed by a valid signature
    proven_at: str | None = None  # the time of the checkpoint that reaches furthest
    anchors: tuple[str, ...] = ()
    problem: str | None = None
    line: int | None = None

    def describe(self) -> str:
        if not self.ok:
            where = f" (line {self.line})" if self.line else ""
            return f"not proven{where}: {self.problem}"
        tail = self.records - self.proven_through
        text = (
            f"signed proof reaches record {self.proven_through} of {self.records} "
            f"(checkpoint of {self.proven_at}; {self.checkpoints} checkpoints checked)"
        )
        if tail:
            text += f"; the last {tail} records rest on the hash chain only"
        if self.anchors:
            text += "; anchors checked: " + ", ".join(self.anchors)
        return text

    def to_json(self) -> dict[str, Any]:
        return {
            "proven": self.ok,
            "proven_through": self.proven_through,
            "proven_at": self.proven_at,
            "checkpoints": self.checkpoints,
            "unproven_records": max(0, self.records - self.proven_through),
            "anchors": list(self.anchors),
            "problem": self.problem,
            "problem_line": self.line,
        }


def read_anchor(path: Path, key: Ed25519PublicKey) -> Anchor:
    """A checkpoint envelope from a file (the signer's anchor, or one an auditor kept)."""
    try:
        envelope = Envelope.from_bytes(path.read_bytes())
    except OSError as exc:
        raise SigningError(f"cannot read the checkpoint {path}: {exc.strerror}") from exc
    return anchor_from(envelope, str(path), key)


def anchor_from(envelope: Envelope, source: str, key: Ed25519PublicKey) -> Anchor:
    """An anchor from a signed checkpoint or receipt; SigningError if it is not genuine."""
    if not verify_envelope(envelope, key):
        raise SigningError(f"{source}: not signed by the station key")
    payload = envelope.payload_json()
    if envelope.payload_type == CHECKPOINT_PAYLOAD:
        count, head = payload.get("count"), payload.get("head")
        is_checkpoint = True
    else:
        audit = payload.get("predicate", {}).get("audit", {})
        count, head = audit.get("seq"), audit.get("head")
        is_checkpoint = False
    if not isinstance(count, int) or not isinstance(head, str):
        raise SigningError(f"{source}: names no audit record")
    return Anchor(source, envelope, count, head, is_checkpoint)


def prove(log: AuditLog, key: Ed25519PublicKey, anchors: Sequence[Anchor] = ()) -> Proof:
    """Check every checkpoint in the log and every anchor against it (see module doc)."""
    numbered = log.numbered_records()
    by_seq = {record["seq"]: record for _, record in numbered}
    total = len(numbered)
    valid = 0
    reach, reach_at = 0, None
    for line, record in numbered:
        if record["event"] != CHECKPOINT_EVENT:
            continue
        problem = checkpoint_problem(record, by_seq, key)
        if problem:
            return Proof(False, total, valid, reach, reach_at, problem=problem, line=line)
        valid += 1
        reach, reach_at = record["seq"], _payload_time(record)
    if valid == 0:
        return Proof(
            False, total,
            problem="there is no signed checkpoint in the log: it was emptied or rewritten, "
            "or this station never signed one (no station key when it was written)",
        )
    used = []
    for anchor in anchors:
        problem = _anchor_problem(anchor, by_seq, total)
        if problem:
            return Proof(False, total, valid, reach, reach_at, problem=problem)
        used.append(anchor.source)
        if anchor.is_checkpoint and anchor.seq + 1 > reach:
            reach, reach_at = anchor.seq + 1, anchor.envelope.payload_json().get("time")
    return Proof(True, total, valid, reach, reach_at, tuple(used))


def _payload_time(record: dict[str, Any]) -> str | None:
    time = Envelope.from_json(record["envelope"]).payload_json().get("time")
    return time if isinstance(time, str) else None


def checkpoint_problem(
    record: dict[str, Any], by_seq: dict[int, dict[str, Any]], key: Ed25519PublicKey
) -> str | None:
    """Why a checkpoint record is not genuine or no longer matches `by_seq`; None if sound."""
    try:
        envelope = Envelope.from_json(record.get("envelope"))
        genuine = verify_envelope(envelope, key)
        payload = envelope.payload_json() if genuine else {}
    except SigningError as exc:
        return f"checkpoint seq {record['seq']} is forged: {exc.message}"
    if not genuine or envelope.payload_type != CHECKPOINT_PAYLOAD:
        return f"checkpoint seq {record['seq']} is forged: not signed by the station key"
    count, head = payload.get("count"), payload.get("head")
    if not isinstance(count, int) or not isinstance(head, str):
        return f"checkpoint seq {record['seq']} is forged: it names no record"
    if payload.get("_type") != CHECKPOINT_TYPE or (count, head) != (
        record.get("count"), record.get("head")
    ):
        return f"checkpoint seq {record['seq']} is forged: its fields are not what was signed"
    if record["seq"] != count + 1:
        return (
            f"checkpoint seq {record['seq']} signed records 1-{count} but stands at seq "
            f"{record['seq']}: records were moved or the chain was rewritten"
        )
    held = by_seq.get(count, {}).get("hash") if count else None
    if count and held != head:
        return (
            f"the chain was rewritten: checkpoint seq {record['seq']} signed record {count} "
            f"with hash {head}, the log's record {count} has hash {held}"
        )
    return None


def _anchor_problem(anchor: Anchor, by_seq: dict[int, dict[str, Any]], total: int) -> str | None:
    wanted = anchor.seq + 1 if anchor.is_checkpoint else anchor.seq
    what = "checkpoint" if anchor.is_checkpoint else "receipt"
    if wanted > total or wanted not in by_seq:
        return (
            f"the log was truncated or emptied: the {what} {anchor.source} fixes record "
            f"{wanted}, the log holds {total} records"
        )
    record = by_seq[wanted]
    if anchor.is_checkpoint:
        held = record.get("envelope")
        if record["event"] != CHECKPOINT_EVENT or held != anchor.envelope.to_json():
            return (
                f"the log was rewritten or cut: record {wanted} is not the checkpoint "
                f"{anchor.source} (its last line may have been deleted)"
            )
        return None
    if record["hash"] != anchor.head:
        return f"the chain was rewritten: record {wanted} is not the one {anchor.source} names"
    return None
