"""The station's identity: one Ed25519 key, and DSSE envelopes signed with it.

Everything the station signs is a DSSE envelope (https://github.com/secure-systems-lab/dsse):
the signature is over PAE(payloadType, payload) = "DSSEv1 <len> <type> <len> <payload>", so a
signature made for one payload type can never be read as a signature over anything else, and
any DSSE verifier checks it. The station signs three payload types and nothing else
(`SIGNABLE_TYPES`): receipts (in-toto statements), audit checkpoints and audit exports.

The private key is readable only by root. The kiosk runs unprivileged and signs through the
privileged helper (`station-media-helper sign TYPE`, through sudo: `HelperSigner`), which
checks what it is asked to sign (`station.signer_checks`). Root (the CLI as root, tests) signs
with the key file directly (`LocalFileSigner`), through the same checks. There is no TPM on
these machines; see docs/audit.md ("The station key").
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from station.atomic import replace_file
from station.children import run_child
from station.errors import StationError

RECEIPT_PAYLOAD = "application/vnd.in-toto+json"
CHECKPOINT_PAYLOAD = "application/vnd.transfer-station.audit-checkpoint+json"
EXPORT_PAYLOAD = "application/vnd.transfer-station.audit-export+json"
SIGNABLE_TYPES = frozenset({RECEIPT_PAYLOAD, CHECKPOINT_PAYLOAD, EXPORT_PAYLOAD})
MAX_PAYLOAD_BYTES = 256 * 1024 * 1024  # an export of a busy year fits; a receipt is ~10 KB

DEFAULT_SIGNER_DIR = Path("/var/lib/station-signer")
KEY_NAME = "station.key"
PUBLIC_NAME = "station.pub"  # in the station home
HELPER_PATH = "/opt/station/venv/bin/station-media-helper"
HELPER_TIMEOUT = 120


class SigningError(StationError):
    """The station could not sign, or a signature or envelope does not verify."""


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding: the exact bytes a signature covers."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(payload), payload)


@dataclass(frozen=True)
class Signature:
    keyid: str
    sig: bytes


@dataclass(frozen=True)
class Envelope:
    """A DSSE envelope: `payload` bytes of `payload_type`, and signatures over their PAE."""

    payload_type: str
    payload: bytes
    signatures: tuple[Signature, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "payload": base64.b64encode(self.payload).decode("ascii"),
            "payloadType": self.payload_type,
            "signatures": [
                {"keyid": s.keyid, "sig": base64.b64encode(s.sig).decode("ascii")}
                for s in self.signatures
            ],
        }

    def to_bytes(self) -> bytes:
        return (json.dumps(self.to_json(), indent=2, sort_keys=True) + "\n").encode("utf-8")

    @classmethod
    def from_json(cls, doc: Any) -> Envelope:
        """Read an envelope strictly: every field present, of its type, base64 valid."""
        if not isinstance(doc, Mapping):
            raise SigningError("not a DSSE envelope: not a JSON object")
        payload_type, payload, signatures = (
            doc.get("payloadType"), doc.get("payload"), doc.get("signatures")
        )
        if not isinstance(payload_type, str) or not isinstance(payload, str):
            raise SigningError("not a DSSE envelope: payloadType and payload must be strings")
        if not isinstance(signatures, list) or not signatures:
            raise SigningError("not a DSSE envelope: it has no signatures")
        sigs = []
        for entry in signatures:
            if not isinstance(entry, Mapping) or not isinstance(entry.get("sig"), str):
                raise SigningError("not a DSSE envelope: a signature has no 'sig'")
            keyid = entry.get("keyid", "")
            sigs.append(Signature(keyid if isinstance(keyid, str) else "", _b64(entry["sig"])))
        return cls(payload_type, _b64(payload), tuple(sigs))

    @classmethod
    def from_bytes(cls, data: bytes) -> Envelope:
        try:
            doc = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise SigningError(f"not a DSSE envelope: not JSON ({exc})") from exc
        return cls.from_json(doc)

    def payload_json(self) -> dict[str, Any]:
        """The payload as a JSON object (every payload the station signs is one)."""
        try:
            value = json.loads(self.payload.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise SigningError(f"the signed payload is not JSON ({exc})") from exc
        if not isinstance(value, dict):
            raise SigningError("the signed payload is not a JSON object")
        return value


def _b64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SigningError(f"not a DSSE envelope: bad base64 ({exc})") from exc


def fingerprint(key: Ed25519PublicKey) -> str:
    """SHA-256 of the DER public key, hex: `openssl pkey -pubin -outform DER | sha256sum`."""
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_public_key(path: Path) -> Ed25519PublicKey:
    """An Ed25519 public key from a PEM file (`station.pub`), or SigningError saying why."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SigningError(
            f"cannot read the station key {path}: {exc.strerror}",
            hint="pass the station.pub the site recorded when the station was set up",
        ) from exc
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise SigningError(f"{path} is not a PEM public key") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise SigningError(f"{path} is not an Ed25519 public key")
    return key


def verify_envelope(envelope: Envelope, key: Ed25519PublicKey) -> bool:
    """True if one of the envelope's signatures is the station key's over its PAE."""
    message = pae(envelope.payload_type, envelope.payload)
    for signature in envelope.signatures:
        try:
            key.verify(signature.sig, message)
        except InvalidSignature:
            continue
        return True
    return False


def canonical_payload(doc: Mapping[str, Any]) -> bytes:
    """Payload bytes: sorted keys, no spaces, UTF-8 (the same JSON the audit log writes)."""
    return json.dumps(
        doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


class StationSigner(Protocol):
    """Signs one payload of a type in SIGNABLE_TYPES with the station key."""

    def sign(self, payload_type: str, payload: bytes) -> Envelope:
        """The signed envelope; SigningError (with the signer's reason) when refused."""
        ...


@dataclass(frozen=True)
class SignerPaths:
    """Where a signer finds the log it vouches for and keeps its key and state."""

    home: Path  # the station home: audit.log, receipts/
    signer_dir: Path  # station.key (root, 0600), checkpoint state and the latest anchor

    @property
    def key(self) -> Path:
        return self.signer_dir / KEY_NAME


class LocalFileSigner:
    """Signs with the key file directly (root: the CLI as root, tests), after the same checks
    the helper makes (`station.signer_checks.check_and_sign`)."""

    def __init__(self, paths: SignerPaths) -> None:
        self.paths = paths

    def sign(self, payload_type: str, payload: bytes) -> Envelope:
        from station.signer_checks import check_and_sign

        return check_and_sign(payload_type, payload, self.paths)


class HelperSigner:
    """Signs through `sudo -n station-media-helper sign TYPE` (the kiosk, unprivileged)."""

    def __init__(self, helper: Sequence[str] | None = None) -> None:
        self._helper = list(helper) if helper is not None else ["sudo", "-n", HELPER_PATH]

    def sign(self, payload_type: str, payload: bytes) -> Envelope:
        try:
            result = run_child(
                [*self._helper, "sign", payload_type],
                input=payload,
                timeout=HELPER_TIMEOUT,
                env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"},
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SigningError(
                f"the signing helper could not run: {exc}",
                hint="check the station installation (packaging/README.md)",
            ) from exc
        if result.returncode != 0:
            detail = result.stderr.decode("utf-8", "replace").strip()
            raise SigningError(
                f"the signing helper refused: {detail.removeprefix('station-media-helper: ')}",
                hint="check `station keys station-init` was run and the sudoers rule",
            )
        return Envelope.from_bytes(result.stdout)


def make_signer(home: Path, signer_dir: Path) -> StationSigner:
    """Root with a readable key signs directly; anyone else asks the helper through sudo."""
    paths = SignerPaths(home, signer_dir)
    if os.geteuid() == 0 and os.access(paths.key, os.R_OK):
        return LocalFileSigner(paths)
    return HelperSigner()


def generate_station_key(paths: SignerPaths) -> tuple[Ed25519PublicKey, bool]:
    """Make the key if there is none (private 0600 in the signer folder, root's), and write
    `<home>/station.pub`. Returns the public key and whether it was made now."""
    paths.signer_dir.mkdir(mode=0o755, parents=True, exist_ok=True)
    # The anchor (latest checkpoint) is for everyone to read; the key file itself is 0600.
    os.chmod(paths.signer_dir, 0o755)  # noqa: S103
    made = False
    if paths.key.exists():
        private = load_private_key(paths.key)
    else:
        private = Ed25519PrivateKey.generate()
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        fd = os.open(paths.key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
            out.flush()
            os.fsync(out.fileno())
        made = True
    public = private.public_key()
    paths.home.mkdir(parents=True, exist_ok=True)
    replace_file(paths.home / PUBLIC_NAME, public_pem(public), mode=0o644)
    return public, made


def load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SigningError(f"cannot read the station's private key {path}: {exc.strerror}") from exc
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise SigningError(f"{path} is not an unencrypted PEM private key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningError(f"{path} is not an Ed25519 private key")
    return key


def sign_with_key(key: Ed25519PrivateKey, payload_type: str, payload: bytes) -> Envelope:
    """The envelope for one payload (no checks: callers are `check_and_sign` only)."""
    keyid = fingerprint(key.public_key())
    signature = Signature(keyid, key.sign(pae(payload_type, payload)))
    return Envelope(payload_type, payload, (signature,))
