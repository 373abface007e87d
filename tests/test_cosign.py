"""cosign blob signatures: base64 DER ECDSA P-256 over SHA-256, checked with cryptography."""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from station.verify import cosign

MANIFEST = b'{"name": "ops-images", "sequence": 7}\n'


def _keypair(curve: ec.EllipticCurve | None = None) -> tuple[ec.EllipticCurvePrivateKey, bytes]:
    key = ec.generate_private_key(curve or ec.SECP256R1())
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return key, pem


def _sign(key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    return base64.b64encode(key.sign(data, ec.ECDSA(hashes.SHA256())))


def test_good_signature_verifies_and_names_the_key() -> None:
    key, pem = _keypair()
    result = cosign.verify(MANIFEST, _sign(key, MANIFEST) + b"\n", pem)
    assert result.valid and result.signer == cosign.fingerprint(cosign.load_public_key(pem))
    assert len(result.signer) == 64


def test_changed_content_or_other_key_fails() -> None:
    key, pem = _keypair()
    _, other = _keypair()
    signature = _sign(key, MANIFEST)
    assert not cosign.verify(MANIFEST + b" ", signature, pem).valid
    result = cosign.verify(MANIFEST, signature, other)
    assert not result.valid and "does not match" in result.reason


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"not base64 at all!", "base64"),
        (base64.b64encode(b"\x30\x03\x02\x01"), "DER"),
        (b"A" * 5000, "larger"),
    ],
)
def test_malformed_signatures_are_refused_with_a_reason(data: bytes, why: str) -> None:
    _, pem = _keypair()
    result = cosign.verify(MANIFEST, data, pem)
    assert not result.valid and why in result.reason
    assert not cosign.looks_like_signature(data)


def test_keys_other_than_p256_are_refused() -> None:
    _, p384 = _keypair(ec.SECP384R1())
    assert "P-256" in cosign.verify(MANIFEST, b"MEUCIQ==", p384).reason
    ed = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert "not an ECDSA key" in cosign.verify(MANIFEST, b"MEUCIQ==", ed).reason
    assert "not a PEM" in cosign.verify(MANIFEST, b"MEUCIQ==", b"garbage").reason


def _openssl(*args: str) -> bytes:
    return subprocess.run(["openssl", *args], check=True, capture_output=True).stdout


@pytest.mark.real
def test_signature_made_by_openssl_verifies(tmp_path: Path) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed (Debian package openssl)")
    private, public = tmp_path / "cosign.key.pem", tmp_path / "cosign.pub"
    content = tmp_path / "bundle.json"
    content.write_bytes(MANIFEST)
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(private))
    _openssl("ec", "-in", str(private), "-pubout", "-out", str(public))
    der = _openssl("dgst", "-sha256", "-sign", str(private), str(content))
    signature = base64.b64encode(der)  # what `... | base64` (and cosign sign-blob) writes
    result = cosign.verify(MANIFEST, signature, public.read_bytes())
    assert result.valid, result.reason
    assert not cosign.verify(MANIFEST[:-1], signature, public.read_bytes()).valid
    spki = _openssl("pkey", "-pubin", "-in", str(public), "-outform", "DER")
    assert result.signer == hashlib.sha256(spki).hexdigest().upper()


def test_trust_store_loads_cosign_keys_and_registry_checks_them(tmp_path: Path) -> None:
    from station.bundle.model import SignatureFile
    from station.verify.signatures import check_signatures
    from station.verify.trust import TrustStore

    key, pem = _keypair()
    stranger, _ = _keypair()
    (tmp_path / "release.cosign.pub").write_bytes(pem)
    (tmp_path / "ci.pem").write_bytes(_keypair()[1])
    trust = TrustStore.load(tmp_path)
    assert [(k.name, k.scheme) for k in trust.keys] == [("ci", "cosign"), ("release", "cosign")]
    good = SignatureFile("bundle.json.sig", _sign(key, MANIFEST))
    bad = SignatureFile("other.sig", _sign(stranger, MANIFEST))
    first, second = check_signatures(MANIFEST, [good, bad], trust)
    assert first.valid and first.signer == "release" and first.scheme == "cosign"
    assert not second.valid and "no trusted cosign key" in second.reason
