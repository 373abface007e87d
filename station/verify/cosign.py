"""cosign key-pair signatures of blobs, verified in-process with `cryptography`.

`cosign sign-blob --key cosign.key FILE` writes the base64 of an ASN.1 DER ECDSA signature
over the SHA-256 of the file; `cosign.pub` is a PEM SubjectPublicKeyInfo with a P-256 key.
cosign itself is not needed to verify (and cannot be installed here): the same signature is
made by `openssl dgst -sha256 -sign key.pem FILE | base64`. Keyless (Fulcio/Rekor) signatures
and cosign bundles are not accepted: an air-gapped station has no transparency log.

In the trust store a cosign key is `NAME.cosign.pub` or `NAME.pem`; its fingerprint is the
upper-case hex SHA-256 of the DER public key (`openssl pkey -pubin -outform DER | sha256sum`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils

from station.bundle.model import SignatureFile
from station.errors import StationError

if TYPE_CHECKING:
    from station.verify.signatures import SignatureCheck
    from station.verify.trust import TrustedKey, TrustStore

SCHEME = "cosign"
KEY_SUFFIXES = (".cosign.pub", ".pem")
MAX_SIGNATURE_BYTES = 4096
_BASE64 = re.compile(rb"[A-Za-z0-9+/]+={0,2}")


class CosignError(StationError):
    """A cosign signature or public key cannot be read."""


@dataclass(frozen=True)
class CosignResult:
    """The outcome of one check: `signer` is the key's fingerprint when the signature holds."""

    valid: bool
    signer: str | None
    reason: str


def load_public_key(pem: bytes) -> ec.EllipticCurvePublicKey:
    """A cosign public key: PEM SubjectPublicKeyInfo holding an ECDSA P-256 key."""
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise CosignError(f"not a PEM public key ({exc})") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise CosignError(f"not an ECDSA key ({type(key).__name__}); cosign keys are P-256")
    if not isinstance(key.curve, ec.SECP256R1):
        raise CosignError(f"ECDSA key on {key.curve.name}; cosign keys use P-256 (secp256r1)")
    return key


def fingerprint(key: ec.EllipticCurvePublicKey) -> str:
    """Upper-case hex SHA-256 of the DER SubjectPublicKeyInfo."""
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest().upper()


def decode_signature(data: bytes) -> bytes:
    """The DER signature inside a `.sig` file (base64 text, surrounding whitespace allowed)."""
    if len(data) > MAX_SIGNATURE_BYTES:
        raise CosignError(f"larger than {MAX_SIGNATURE_BYTES} bytes; not a cosign signature")
    text = b"".join(data.split())
    if not _BASE64.fullmatch(text):
        raise CosignError("not base64 text")
    try:
        der = base64.b64decode(text, validate=True)
        utils.decode_dss_signature(der)
    except (binascii.Error, ValueError) as exc:
        raise CosignError("not a base64 DER ECDSA signature") from exc
    return der


def looks_like_signature(data: bytes) -> bool:
    """True for base64 text that decodes to a DER ECDSA signature."""
    try:
        decode_signature(data)
    except CosignError:
        return False
    return True


def verify(content: bytes, signature: bytes, public_key_pem: bytes) -> CosignResult:
    """Check a `.sig` file's bytes over `content` with one PEM public key; never raises."""
    try:
        key = load_public_key(public_key_pem)
        der = decode_signature(signature)
    except CosignError as exc:
        return CosignResult(False, None, exc.message)
    fpr = fingerprint(key)
    try:
        key.verify(der, content, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return CosignResult(False, None, f"bad signature: it does not match key {fpr}")
    return CosignResult(True, fpr, f"good signature by cosign key {fpr}")


# -- the station's interfaces (trust store loader, signature verifier) ----------------------


def trusted_key(path: Path, data: bytes) -> TrustedKey:
    """A trust-store entry for `NAME.cosign.pub` or `NAME.pem`."""
    from station.verify.trust import TrustedKey

    key = load_public_key(data)
    name = path.name
    for suffix in KEY_SUFFIXES:
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    return TrustedKey(
        name=name,
        scheme=SCHEME,
        fingerprint=fingerprint(key),
        path=path,
        data=data,
        description="cosign ECDSA P-256 key",
    )


class CosignVerifier:
    """`SignatureVerifier` for cosign `.sig` files: tries every trusted cosign key.

    A cosign signature does not name its key, so each trusted cosign key is tried; at most
    one can verify (ECDSA signatures are bound to the key).
    """

    scheme = SCHEME

    def recognises(self, signature: SignatureFile) -> bool:
        return looks_like_signature(signature.data)

    def check(self, manifest: bytes, signature: SignatureFile, trust: TrustStore) -> SignatureCheck:
        from station.verify.signatures import SignatureCheck

        keys = trust.of_scheme(SCHEME)
        for key in keys:
            result = verify(manifest, signature.data, key.data)
            if result.valid:
                reason = f"good signature by {key.name} (cosign key {key.fingerprint})"
                return SignatureCheck(
                    signature.name, SCHEME, True, key.name, key.fingerprint, reason
                )
        if not keys:
            reason = "a cosign signature, but the trust store holds no cosign keys"
        else:
            names = ", ".join(key.name for key in keys)
            reason = f"no trusted cosign key verifies it (tried {names})"
        return SignatureCheck(signature.name, SCHEME, False, None, None, reason)
