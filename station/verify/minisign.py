"""minisign public keys and signatures, read and checked in minisign's own formats.

Implemented with `cryptography` (Ed25519) and `hashlib.blake2b`, so verification needs no
external tool. Formats as jedisct1/minisign 0.11 writes them (src/minisign.c, minisign.h):

- public key: ``untrusted comment: ...`` then base64(``Ed`` + key id (8) + public key (32)).
- signature: ``untrusted comment: ...``, base64(algorithm (2) + key id (8) + signature (64)),
  ``trusted comment: TEXT``, base64(global signature (64)). Algorithm ``Ed`` (legacy) signs
  the message itself, ``ED`` (prehashed, the default) signs BLAKE2b-512 of the message. The
  global signature signs the signature bytes followed by TEXT, so the trusted comment cannot be
  changed without the key.
- secret key: ``untrusted comment: ...`` then base64(``Ed``, KDF algorithm (2: ``Sc`` =
  scrypt-encrypted, two zero bytes = unencrypted, as `minisign -G -W` writes), ``B2``, salt (32),
  opslimit (8), memlimit (8), key id (8), secret key (64 = seed + public key), checksum (32 =
  BLAKE2b-256 of ``Ed`` + key id + secret key)). `minisign -W` leaves the checksum zero.

The key id is shown as minisign prints it: the 8 bytes read as a little-endian integer, 16
upper-case hex digits. Signing and secret keys live on the connected side
(`station.publish.minisign_keys`): the kiosk's verify path holds no signing code.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from station.errors import StationError

SCHEME = "minisign"
UNTRUSTED_PREFIX = b"untrusted comment: "
TRUSTED_PREFIX = b"trusted comment: "
ALG_LEGACY = b"Ed"
ALG_PREHASHED = b"ED"
KDF_SCRYPT = b"Sc"
KDF_NONE = b"\x00\x00"
CHK_BLAKE2B = b"B2"
KEY_ID_BYTES = 8
TRUSTED_COMMENT_MAX = 8192 - len(TRUSTED_PREFIX) - 1
MAX_FILE_BYTES = 16 * 1024  # the largest legal signature is about 8.3 KiB
ENCRYPTED_KEY_HINT = (
    "create an unencrypted signing key with `station keys generate` or `minisign -G -W`"
)


class MinisignError(StationError):
    """A minisign key or signature is malformed, or a signature does not verify."""


def format_key_id(key_id: bytes) -> str:
    """The key id exactly as minisign prints it: little-endian, upper-case hex, and like its
    `%" PRIX64 "` without leading zeros, so operators compare the same string on both sides."""
    return f"{int.from_bytes(key_id, 'little'):X}"


@dataclass(frozen=True)
class PublicKey:
    """A minisign public key: the 8-byte key id and the raw Ed25519 public key."""

    key_id: bytes
    raw: bytes

    @property
    def fingerprint(self) -> str:
        return format_key_id(self.key_id)

    @property
    def blob(self) -> bytes:
        """The binary form minisign base64-encodes: ``Ed`` + key id + public key."""
        return ALG_LEGACY + self.key_id + self.raw

    @classmethod
    def from_blob(cls, blob: bytes) -> PublicKey:
        if len(blob) != 2 + KEY_ID_BYTES + 32:
            raise MinisignError(f"a minisign public key has 42 bytes, not {len(blob)}")
        if blob[:2] != ALG_LEGACY:
            raise MinisignError("unsupported public key algorithm (expected Ed25519, 'Ed')")
        return cls(key_id=blob[2:10], raw=blob[10:])

    def to_file(self) -> bytes:
        """The two-line public key file, exactly as `minisign -G` writes it."""
        header = f"untrusted comment: minisign public key {self.fingerprint}\n".encode()
        return header + base64.b64encode(self.blob) + b"\n"


@dataclass(frozen=True)
class Signature:
    """A parsed `.minisig` file (nothing verified yet)."""

    algorithm: bytes
    key_id: bytes
    signature: bytes
    trusted_comment: bytes
    global_signature: bytes

    @property
    def prehashed(self) -> bool:
        return self.algorithm == ALG_PREHASHED

    @property
    def key_fingerprint(self) -> str:
        return format_key_id(self.key_id)


def _b64(text: bytes, what: str) -> bytes:
    try:
        return base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MinisignError(f"the {what} is not valid base64") from exc


def _lines(data: bytes) -> list[bytes]:
    """Lines as minisign's fgets+trim sees them: split at LF, a trailing CR dropped."""
    return [line[:-1] if line.endswith(b"\r") else line for line in data.split(b"\n")]


def parse_public_key(data: bytes) -> PublicKey:
    """Read a minisign public key file (comment line, then the base64 key)."""
    if len(data) > MAX_FILE_BYTES:
        raise MinisignError("too large for a minisign public key")
    lines = _lines(data)
    if len(lines) < 2 or not lines[0].startswith(UNTRUSTED_PREFIX):
        raise MinisignError(
            "not a minisign public key (expected an 'untrusted comment:' line and a key line)"
        )
    return PublicKey.from_blob(_b64(lines[1], "public key"))


def parse_signature(data: bytes) -> Signature:
    """Read a `.minisig` file; raise MinisignError saying what is wrong with it."""
    if len(data) > MAX_FILE_BYTES:
        raise MinisignError(f"too large for a minisign signature ({len(data)} bytes)")
    lines = _lines(data)
    if not lines[0].startswith(UNTRUSTED_PREFIX):
        raise MinisignError("the first line is not an 'untrusted comment:' line")
    if len(lines) < 4 or not lines[3].strip():
        raise MinisignError("the signature is truncated (four lines expected)")
    blob = _b64(lines[1], "signature line")
    if len(blob) != 2 + KEY_ID_BYTES + 64:
        raise MinisignError(f"the signature line holds {len(blob)} bytes, not 74")
    algorithm = blob[:2]
    if algorithm not in (ALG_LEGACY, ALG_PREHASHED):
        raise MinisignError(f"unsupported signature algorithm {algorithm!r}")
    if not lines[2].startswith(TRUSTED_PREFIX):
        raise MinisignError("the third line is not a 'trusted comment:' line")
    comment = lines[2][len(TRUSTED_PREFIX) :]
    if b"\r" in comment or len(comment) > TRUSTED_COMMENT_MAX:
        raise MinisignError("the trusted comment is malformed or too long")
    global_signature = _b64(lines[3], "global signature")
    if len(global_signature) != 64:
        raise MinisignError(f"the global signature holds {len(global_signature)} bytes, not 64")
    return Signature(
        algorithm=algorithm,
        key_id=blob[2:10],
        signature=blob[10:],
        trusted_comment=comment,
        global_signature=global_signature,
    )


def _signed_message(message: bytes, prehashed: bool) -> bytes:
    return hashlib.blake2b(message, digest_size=64).digest() if prehashed else message


def verify(message: bytes, signature: Signature, key: PublicKey) -> None:
    """Check the signature and the trusted comment's global signature; raise on any failure.

    The caller picks the key by the signature's key id; a different id is refused here too.
    """
    if signature.key_id != key.key_id:
        raise MinisignError(
            f"the signature is by key {signature.key_fingerprint}, not {key.fingerprint}"
        )
    public = Ed25519PublicKey.from_public_bytes(key.raw)
    try:
        public.verify(signature.signature, _signed_message(message, signature.prehashed))
    except InvalidSignature as exc:
        raise MinisignError("the signature does not match the manifest") from exc
    try:
        public.verify(signature.global_signature, signature.signature + signature.trusted_comment)
    except InvalidSignature as exc:
        raise MinisignError("the trusted comment does not match its signature") from exc
