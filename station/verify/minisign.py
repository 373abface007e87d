"""minisign keys and signatures, read and written in minisign's own formats.

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
upper-case hex digits.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

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
_SECRET_BLOB_BYTES = 2 + 2 + 2 + 32 + 8 + 8 + KEY_ID_BYTES + 64 + 32
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


@dataclass(frozen=True)
class SecretKey:
    """An unencrypted minisign secret key, ready to sign."""

    key_id: bytes
    private: Ed25519PrivateKey

    @property
    def public_key(self) -> PublicKey:
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        raw = self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return PublicKey(key_id=self.key_id, raw=raw)

    def to_file(self) -> bytes:
        """The secret key file in minisign's unencrypted format (KDF bytes 0,0)."""
        seed = self.private.private_bytes_raw()
        secret = seed + self.public_key.raw
        checksum = _secret_checksum(self.key_id, secret)
        blob = (
            ALG_LEGACY
            + KDF_NONE
            + CHK_BLAKE2B
            + bytes(32)
            + bytes(8)
            + bytes(8)
            + self.key_id
            + secret
            + checksum
        )
        header = b"untrusted comment: minisign secret key (unencrypted)\n"
        return header + base64.b64encode(blob) + b"\n"


def _secret_checksum(key_id: bytes, secret: bytes) -> bytes:
    return hashlib.blake2b(ALG_LEGACY + key_id + secret, digest_size=32).digest()


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


def sign(
    message: bytes,
    secret_key: SecretKey,
    trusted_comment: str,
    *,
    prehashed: bool = True,
    untrusted_comment: str = "signature from minisign secret key",
) -> bytes:
    """A `.minisig` file for `message`: prehashed (``ED``) unless legacy is asked for."""
    comment = trusted_comment.encode("utf-8")
    for text, what in ((comment, "trusted"), (untrusted_comment.encode("utf-8"), "untrusted")):
        if b"\n" in text or b"\r" in text:
            raise MinisignError(f"the {what} comment must be one line")
    if len(comment) > TRUSTED_COMMENT_MAX:
        raise MinisignError(f"the trusted comment is longer than {TRUSTED_COMMENT_MAX} bytes")
    algorithm = ALG_PREHASHED if prehashed else ALG_LEGACY
    signature = secret_key.private.sign(_signed_message(message, prehashed))
    global_signature = secret_key.private.sign(signature + comment)
    return b"".join(
        (
            UNTRUSTED_PREFIX + untrusted_comment.encode("utf-8") + b"\n",
            base64.b64encode(algorithm + secret_key.key_id + signature) + b"\n",
            TRUSTED_PREFIX + comment + b"\n",
            base64.b64encode(global_signature) + b"\n",
        )
    )


def parse_secret_key(data: bytes, source: str = "the secret key") -> SecretKey:
    """Read an unencrypted minisign secret key; encrypted keys are refused with a hint."""
    lines = _lines(data[: MAX_FILE_BYTES + 1])
    if len(data) > MAX_FILE_BYTES or len(lines) < 2 or not lines[0].startswith(UNTRUSTED_PREFIX):
        raise MinisignError(f"{source} is not a minisign secret key")
    blob = _b64(lines[1], f"key in {source}")
    if len(blob) != _SECRET_BLOB_BYTES:
        raise MinisignError(f"{source} is not a minisign secret key ({len(blob)} bytes)")
    if blob[:2] != ALG_LEGACY or blob[4:6] != CHK_BLAKE2B:
        raise MinisignError(f"{source} uses an unsupported algorithm")
    kdf = blob[2:4]
    if kdf == KDF_SCRYPT:
        raise MinisignError(f"{source}: this key is encrypted", hint=ENCRYPTED_KEY_HINT)
    if kdf != KDF_NONE:
        raise MinisignError(f"{source} uses an unknown key protection {kdf!r}")
    key_id, secret, checksum = blob[54:62], blob[62:126], blob[126:158]
    if checksum != bytes(32) and checksum != _secret_checksum(key_id, secret):
        raise MinisignError(f"{source} is damaged (its checksum does not match)")
    private = Ed25519PrivateKey.from_private_bytes(secret[:32])
    key = SecretKey(key_id=key_id, private=private)
    if key.public_key.raw != secret[32:]:
        raise MinisignError(f"{source} is damaged (its two halves do not belong together)")
    return key


def load_secret_key(path: Path) -> SecretKey:
    """Read an unencrypted minisign secret key file (ours or `minisign -G -W`)."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise MinisignError(
            f"cannot read the secret key {path}: {exc.strerror or exc}",
            hint="give the path of a minisign secret key file",
        ) from exc
    return parse_secret_key(data, str(path))


def _key_name_ok(name: str) -> bool:
    return (
        bool(name)
        and name == os.path.basename(name)
        and not name.startswith((".", "-"))
        and name.isprintable()
        and len(name) <= 100
    )


def generate_keypair(name: str, directory: Path) -> tuple[Path, Path]:
    """Write NAME.key (unencrypted, mode 0600) and NAME.pub; never overwrite either."""
    if not _key_name_ok(name):
        raise StationError(
            f"{name!r} is not a usable key name",
            hint="use a plain name such as 'alice' or 'release-2026' (no '/', no leading '.')",
        )
    secret_path = directory / f"{name}.key"
    public_path = directory / f"{name}.pub"
    for path in (secret_path, public_path):
        if os.path.lexists(path):
            raise StationError(
                f"{path} already exists; not overwriting it",
                hint="choose another name or folder, or move the old key away first",
            )
    key = SecretKey(key_id=os.urandom(KEY_ID_BYTES), private=Ed25519PrivateKey.generate())
    _write_new(secret_path, key.to_file(), 0o600)
    try:
        _write_new(public_path, key.public_key.to_file(), 0o644)
    except BaseException:
        secret_path.unlink(missing_ok=True)
        raise
    return secret_path, public_path


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Create `path` exclusively with `mode` (no window where a secret is world-readable)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    except FileExistsError as exc:
        raise StationError(
            f"{path} already exists; not overwriting it",
            hint="choose another name or folder, or move the old key away first",
        ) from exc
    except OSError as exc:
        raise StationError(
            f"cannot create {path}: {exc.strerror or exc}",
            hint="check that the folder exists and is writable",
        ) from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        path.unlink(missing_ok=True)
        raise StationError(f"cannot write {path}: {exc.strerror or exc}") from exc
