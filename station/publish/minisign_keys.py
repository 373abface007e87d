"""minisign secret keys and signing: the connected side's half, never on the verify path.

Formats as jedisct1/minisign 0.11 writes them (see `station.verify.minisign` for the public
half). A secret key file is ``untrusted comment: ...`` then base64(``Ed``, KDF algorithm (2:
``Sc`` = scrypt-encrypted, two zero bytes = unencrypted, as `minisign -G -W` writes), ``B2``,
salt (32), opslimit (8), memlimit (8), key id (8), secret key (64 = seed + public key),
checksum (32 = BLAKE2b-256 of ``Ed`` + key id + secret key)). `minisign -W` leaves the
checksum zero.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from station.errors import StationError
from station.verify.minisign import (
    ALG_LEGACY,
    ALG_PREHASHED,
    CHK_BLAKE2B,
    ENCRYPTED_KEY_HINT,
    KDF_NONE,
    KDF_SCRYPT,
    KEY_ID_BYTES,
    MAX_FILE_BYTES,
    TRUSTED_COMMENT_MAX,
    TRUSTED_PREFIX,
    UNTRUSTED_PREFIX,
    MinisignError,
    PublicKey,
    _b64,
    _lines,
    _signed_message,
)

_SECRET_BLOB_BYTES = 2 + 2 + 2 + 32 + 8 + 8 + KEY_ID_BYTES + 64 + 32


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
