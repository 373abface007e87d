"""minisign keys and signatures: the formats minisign writes, and every way a signature fails."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest

from station.cli.main import main
from station.errors import StationError
from station.publish import minisign_keys
from station.verify import minisign

# Written by the real `minisign 0.11` (`-G -W`, then `-S` and `-S -l`) over b"hello\n", so these
# tests pin the project to minisign's formats even where the binary is absent.
MESSAGE = b"hello\n"
MINISIGN_PUB = (
    b"untrusted comment: minisign public key CEEA6497FAF15A26\n"
    b"RWQmWvH6l2TqzncjHtunE69tMuZpp2ZMEf0S1IchXv4xSo1FIulItsPd\n"
)
MINISIGN_PREHASHED = (
    b"untrusted comment: signature from minisign secret key\n"
    b"RUQmWvH6l2TqzriqYUOPKd/YTVmAflDHXRIOghU3kVHUmoIHarjO20UxqRHyQYDMmZ7LcW89oIjAZEmiQDzIpzJeB7f7TPq/QgI=\n"
    b"trusted comment: timestamp:1795746474\tfile:m\thashed\n"
    b"fL69PpnNQSdaeCcVa/5+ewRHqUN1qwfqpq+7vozSqaz+M4VruRzvife6QhkZS0Ta+DNIKZ2oic+3ljGAjtG6Dw==\n"
)
MINISIGN_LEGACY = (
    b"untrusted comment: signature from minisign secret key\n"
    b"RWQmWvH6l2TqznyMdlFvfx93SE5jmMpt5zXAHDnvMhVmdSvrLN7OKdZpy82OOqt2Qt5yTrqLwzGuYE1JAgmStDQEJOVMOCWLjQ0=\n"
    b"trusted comment: timestamp:1795746474\tfile:m\n"
    b"ciaEp5bQuTxwzfU074dB6Wix6k6dExwxpN0Y+que304C7c6LRN6p3sR7kCSMOuPCyYpMPt9kmCe9mv6qTwpZDw==\n"
)


@pytest.fixture
def keypair(tmp_path: Path) -> tuple[minisign_keys.SecretKey, minisign.PublicKey]:
    secret_path, public_path = minisign_keys.generate_keypair("alice", tmp_path)
    return (
        minisign_keys.load_secret_key(secret_path),
        minisign.parse_public_key(public_path.read_bytes()),
    )


def test_key_id_is_shown_as_minisign_prints_it() -> None:
    key = minisign.parse_public_key(MINISIGN_PUB)
    assert key.fingerprint == "CEEA6497FAF15A26"


@pytest.mark.parametrize(
    ("signature", "prehashed"), [(MINISIGN_PREHASHED, True), (MINISIGN_LEGACY, False)]
)
def test_signatures_written_by_minisign_verify(signature: bytes, prehashed: bool) -> None:
    parsed = minisign.parse_signature(signature)
    assert parsed.prehashed is prehashed
    minisign.verify(MESSAGE, parsed, minisign.parse_public_key(MINISIGN_PUB))


@pytest.mark.parametrize("signature", [MINISIGN_PREHASHED, MINISIGN_LEGACY])
def test_tampered_message_is_refused(signature: bytes) -> None:
    parsed = minisign.parse_signature(signature)
    with pytest.raises(minisign.MinisignError, match="does not match the manifest"):
        minisign.verify(b"hello!\n", parsed, minisign.parse_public_key(MINISIGN_PUB))


def test_altered_trusted_comment_is_refused() -> None:
    altered = MINISIGN_PREHASHED.replace(b"timestamp:1795746474", b"timestamp:1895746474")
    with pytest.raises(minisign.MinisignError, match="trusted comment"):
        minisign.verify(
            MESSAGE, minisign.parse_signature(altered), minisign.parse_public_key(MINISIGN_PUB)
        )


def test_switching_legacy_and_prehashed_breaks_the_signature() -> None:
    """The algorithm bytes are not signed; flipping them must not produce a valid signature."""
    lines = MINISIGN_PREHASHED.split(b"\n")
    blob = base64.b64decode(lines[1])
    lines[1] = base64.b64encode(b"Ed" + blob[2:])
    parsed = minisign.parse_signature(b"\n".join(lines))
    assert not parsed.prehashed
    with pytest.raises(minisign.MinisignError):
        minisign.verify(MESSAGE, parsed, minisign.parse_public_key(MINISIGN_PUB))


def test_wrong_key_is_refused(keypair: tuple[minisign_keys.SecretKey, minisign.PublicKey]) -> None:
    _, other = keypair
    with pytest.raises(minisign.MinisignError, match="CEEA6497FAF15A26"):
        minisign.verify(MESSAGE, minisign.parse_signature(MINISIGN_PREHASHED), other)
    # Same key id, different key material: the signature itself must fail.
    impostor = minisign.PublicKey(key_id=bytes.fromhex("265af1fa9764eace"), raw=other.raw)
    with pytest.raises(minisign.MinisignError, match="does not match"):
        minisign.verify(MESSAGE, minisign.parse_signature(MINISIGN_PREHASHED), impostor)


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"", "untrusted comment"),
        (b"\x00\xff garbage", "untrusted comment"),
        (MINISIGN_PREHASHED[:60], "truncated"),
        (b"\n".join(MINISIGN_PREHASHED.split(b"\n")[:3]), "truncated"),
        (MINISIGN_PREHASHED.replace(b"RUQmWvH6", b"RUQmW!H6"), "base64"),
        (MINISIGN_PREHASHED.replace(b"trusted comment: t", b"comment: t"), "trusted comment"),
        (MINISIGN_PREHASHED.replace(b"fL69Pp", b"fL69"), "global signature"),
        (MINISIGN_PREHASHED + b"x" * 20000, "too large"),
    ],
)
def test_malformed_signature_files_say_what_is_wrong(data: bytes, says: str) -> None:
    with pytest.raises(minisign.MinisignError, match=says):
        minisign.parse_signature(data)


def test_unknown_signature_algorithm_is_refused() -> None:
    lines = MINISIGN_PREHASHED.split(b"\n")
    lines[1] = base64.b64encode(b"Xx" + base64.b64decode(lines[1])[2:])
    with pytest.raises(minisign.MinisignError, match="unsupported signature algorithm"):
        minisign.parse_signature(b"\n".join(lines))


def test_crlf_line_endings_still_verify() -> None:
    parsed = minisign.parse_signature(MINISIGN_PREHASHED.replace(b"\n", b"\r\n"))
    minisign.verify(MESSAGE, parsed, minisign.parse_public_key(MINISIGN_PUB))


@pytest.mark.parametrize("prehashed", [True, False])
def test_own_signatures_round_trip(
    keypair: tuple[minisign_keys.SecretKey, minisign.PublicKey], prehashed: bool
) -> None:
    secret, public = keypair
    data = minisign_keys.sign(b"manifest", secret, "bundle 7", prehashed=prehashed)
    parsed = minisign.parse_signature(data)
    assert parsed.algorithm == (b"ED" if prehashed else b"Ed")
    assert parsed.trusted_comment == b"bundle 7"
    minisign.verify(b"manifest", parsed, public)
    with pytest.raises(minisign.MinisignError):
        minisign.verify(b"manifest2", parsed, public)


def test_sign_refuses_a_multi_line_trusted_comment(
    keypair: tuple[minisign_keys.SecretKey, minisign.PublicKey],
) -> None:
    with pytest.raises(minisign.MinisignError, match="one line"):
        minisign_keys.sign(b"m", keypair[0], "one\ntwo")


def test_generated_secret_key_is_private_and_never_overwritten(tmp_path: Path) -> None:
    secret_path, public_path = minisign_keys.generate_keypair("bob", tmp_path)
    assert (secret_path.name, public_path.name) == ("bob.key", "bob.pub")
    assert stat.S_IMODE(secret_path.stat().st_mode) == 0o600
    before = secret_path.read_bytes()
    with pytest.raises(StationError, match="already exists"):
        minisign_keys.generate_keypair("bob", tmp_path)
    assert secret_path.read_bytes() == before
    public_path.unlink()
    with pytest.raises(StationError, match="already exists"):
        minisign_keys.generate_keypair("bob", tmp_path)  # the secret alone also blocks it


@pytest.mark.parametrize("name", ["", "../evil", "a/b", ".hidden", "-rf", "tab\there"])
def test_generate_refuses_unusable_names(tmp_path: Path, name: str) -> None:
    with pytest.raises(StationError, match="not a usable key name"):
        minisign_keys.generate_keypair(name, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_public_key_file_matches_minisigns_layout(tmp_path: Path) -> None:
    _, public_path = minisign_keys.generate_keypair("carol", tmp_path)
    header, key_line, end = public_path.read_bytes().split(b"\n")
    key = minisign.parse_public_key(public_path.read_bytes())
    assert header == f"untrusted comment: minisign public key {key.fingerprint}".encode()
    assert base64.b64decode(key_line)[:2] == b"Ed" and end == b""


def _secret_blob(path: Path) -> bytearray:
    return bytearray(base64.b64decode(path.read_bytes().split(b"\n")[1]))


def _write_blob(path: Path, blob: bytes) -> None:
    path.write_bytes(b"untrusted comment: x\n" + base64.b64encode(bytes(blob)) + b"\n")


def test_encrypted_secret_key_is_refused_with_the_way_out(tmp_path: Path) -> None:
    secret_path, _ = minisign_keys.generate_keypair("dave", tmp_path)
    blob = _secret_blob(secret_path)
    blob[2:4] = b"Sc"
    _write_blob(secret_path, blob)
    with pytest.raises(minisign.MinisignError, match="this key is encrypted") as caught:
        minisign_keys.load_secret_key(secret_path)
    assert caught.value.hint is not None and "minisign -G -W" in caught.value.hint


def test_damaged_secret_key_is_refused(tmp_path: Path) -> None:
    secret_path, _ = minisign_keys.generate_keypair("erin", tmp_path)
    blob = _secret_blob(secret_path)
    blob[70] ^= 1  # one bit of the seed
    _write_blob(secret_path, blob)
    with pytest.raises(minisign.MinisignError, match="damaged"):
        minisign_keys.load_secret_key(secret_path)


def test_secret_key_with_zero_checksum_as_minisign_writes_it_loads(tmp_path: Path) -> None:
    secret_path, public_path = minisign_keys.generate_keypair("frank", tmp_path)
    blob = _secret_blob(secret_path)
    blob[126:158] = bytes(32)
    _write_blob(secret_path, blob)
    key = minisign_keys.load_secret_key(secret_path)
    assert key.public_key == minisign.parse_public_key(public_path.read_bytes())


def test_missing_or_foreign_secret_key_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StationError, match="cannot read the secret key"):
        minisign_keys.load_secret_key(tmp_path / "nope.key")
    (tmp_path / "pub.key").write_bytes(MINISIGN_PUB)
    with pytest.raises(StationError, match="not a minisign secret key"):
        minisign_keys.load_secret_key(tmp_path / "pub.key")


def test_cli_generate_writes_a_pair_and_refuses_to_overwrite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["keys", "generate", "release", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    public = minisign.parse_public_key((tmp_path / "release.pub").read_bytes())
    assert str(tmp_path / "release.key") in out and str(tmp_path / "release.pub") in out
    assert f"fingerprint: {public.fingerprint}" in out
    assert main(["keys", "generate", "release", "--dir", str(tmp_path)]) == 2
    assert "already exists" in capsys.readouterr().err
