"""Hostile SSH signature files: refused with a reason, never a crash, never valid."""

from __future__ import annotations

import base64
import hashlib
import struct

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from station.errors import StationError
from station.verify import sshsig

MESSAGE = b"manifest bytes\n"


def _s(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def _armor(blob: bytes) -> bytes:
    body = base64.b64encode(blob)
    lines = [body[i : i + 70] for i in range(0, len(body), 70)]
    return b"\n".join([sshsig.ARMOR_BEGIN, *lines, sshsig.ARMOR_END]) + b"\n"


def _signed(namespace: str = "file") -> tuple[bytes, bytes, bytes]:
    """(armored signature, public key line, key blob), made the way ssh-keygen makes them."""
    key = ed25519.Ed25519PrivateKey.generate()
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    blob = _s(b"ssh-ed25519") + _s(raw)
    digest = hashlib.sha512(MESSAGE).digest()
    to_sign = b"SSHSIG" + _s(namespace.encode()) + _s(b"") + _s(b"sha512") + _s(digest)
    signature = _s(b"ssh-ed25519") + _s(key.sign(to_sign))
    sshsig_blob = (
        b"SSHSIG" + struct.pack(">I", 1) + _s(blob) + _s(namespace.encode()) + _s(b"")
        + _s(b"sha512") + _s(signature)
    )
    line = b"ssh-ed25519 " + base64.b64encode(blob) + b" alice@producer"
    return _armor(sshsig_blob), line, blob


def test_a_well_formed_signature_verifies_by_line_or_blob() -> None:
    armored, line, blob = _signed()
    assert sshsig.verify(MESSAGE, armored, line).valid
    assert sshsig.verify(MESSAGE, armored, blob).valid
    assert sshsig.verify(MESSAGE, armored, line).signer == sshsig.fingerprint(blob)


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        (lambda blob: blob[:-10], "truncated"),
        (lambda blob: b"SSHSIX" + blob[6:], "magic"),
        (lambda blob: blob[:6] + struct.pack(">I", 2) + blob[10:], "version 2"),
        (lambda blob: blob + b"extra", "unexpected bytes"),
        (lambda blob: blob[:10] + b"\xff\xff\xff\xff" + blob[14:], "truncated"),
    ],
)
def test_damaged_blobs_are_refused(damage: object, words: str) -> None:
    armored, line, _ = _signed()
    body = b"".join(armored.strip().splitlines()[1:-1])
    bad = _armor(damage(base64.b64decode(body)))  # type: ignore[operator]
    result = sshsig.verify(MESSAGE, bad, line)
    assert not result.valid and words in result.reason


def test_armor_and_size_are_checked() -> None:
    _, line, _ = _signed()
    assert "not an armored" in sshsig.verify(MESSAGE, b"hello", line).reason
    bad64 = sshsig.ARMOR_BEGIN + b"\n!!!!\n" + sshsig.ARMOR_END
    assert "base64" in sshsig.verify(MESSAGE, bad64, line).reason
    huge = sshsig.ARMOR_BEGIN + b"A" * 70_000 + sshsig.ARMOR_END
    assert "larger" in sshsig.verify(MESSAGE, huge, line).reason


def test_public_key_lines_are_checked() -> None:
    _, _, blob = _signed()
    with pytest.raises(StationError, match="not supported"):
        sshsig.parse_public_key(b"ssh-dss AAAA")
    with pytest.raises(StationError, match="does not match"):
        sshsig.parse_public_key(b"ssh-rsa " + base64.b64encode(blob))
    with pytest.raises(StationError, match="malformed"):
        sshsig.parse_public_key(b"ssh-ed25519 " + base64.b64encode(_s(b"ssh-ed25519") + _s(b"x")))


def test_allowed_signers_options_and_refusals() -> None:
    _, line, blob = _signed()
    text = (
        "# comment\n"
        f'alice@example.org,ops@example.org namespaces="file,git",valid-after="20260101" '
        f"{line.decode()}\n"
        f"bob@example.org {line.decode()}\n"
    )
    first, second = sshsig.parse_allowed_signers(text)
    assert first.principals == ("alice@example.org", "ops@example.org")
    assert first.namespaces == ("file", "git") and first.valid_after == "20260101"
    assert first.key == blob and second.namespaces is None and second.allows("anything")
    with pytest.raises(StationError, match="line 1: cert-authority"):
        sshsig.parse_allowed_signers(f"ca@x cert-authority {line.decode()}")
    with pytest.raises(StationError, match="unbalanced"):
        sshsig.parse_allowed_signers(f'a@x namespaces="file {line.decode()}')
