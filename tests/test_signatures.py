"""check_signatures: one verdict per signature file, valid only for a trusted key's good one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from station.bundle.model import SignatureFile
from station.publish import minisign_keys
from station.verify import openpgp, signatures
from station.verify.signatures import SignatureCheck, check_signatures
from station.verify.trust import TrustStore

MANIFEST = b"0" * 64 + b"  images/app.tar\n"


class Signer:
    def __init__(self, secret: minisign_keys.SecretKey) -> None:
        self.secret = secret
        self.fingerprint = secret.public_key.fingerprint

    def sign(self, manifest: bytes = MANIFEST, *, prehashed: bool = True) -> bytes:
        return minisign_keys.sign(manifest, self.secret, "bundle 1", prehashed=prehashed)


def _signer(directory: Path, name: str) -> Signer:
    secret_path, _ = minisign_keys.generate_keypair(name, directory)
    return Signer(minisign_keys.load_secret_key(secret_path))


@pytest.fixture
def setup(tmp_path: Path) -> tuple[TrustStore, Signer, Signer]:
    """A trust store holding alice's key; mallory has a key the station does not trust."""
    trust = tmp_path / "trust"
    trust.mkdir()
    alice = _signer(tmp_path, "alice")
    (tmp_path / "alice.pub").rename(trust / "alice.pub")
    mallory = _signer(tmp_path, "mallory")
    return TrustStore.load(trust), alice, mallory


@pytest.mark.parametrize("prehashed", [True, False])
def test_good_signature_by_trusted_key_is_valid(
    setup: tuple[TrustStore, Signer, Signer], prehashed: bool
) -> None:
    store, alice, _ = setup
    sig = SignatureFile("SHA256SUMS.minisig", alice.sign(prehashed=prehashed))
    [check] = check_signatures(MANIFEST, [sig], store)
    assert check == SignatureCheck(
        file="SHA256SUMS.minisig",
        scheme="minisign",
        valid=True,
        signer="alice",
        fingerprint=alice.fingerprint,
        reason=f"good signature by alice (minisign key {alice.fingerprint})",
    )


def test_tampered_manifest_is_a_bad_signature_naming_the_signer(
    setup: tuple[TrustStore, Signer, Signer],
) -> None:
    store, alice, _ = setup
    sig = SignatureFile("SHA256SUMS.minisig", alice.sign())
    [check] = check_signatures(MANIFEST.replace(b"app", b"evil"), [sig], store)
    assert not check.valid
    assert check.reason.startswith("bad signature by alice")
    assert check.fingerprint == alice.fingerprint


def test_untrusted_key_is_rejected_with_its_key_id(
    setup: tuple[TrustStore, Signer, Signer],
) -> None:
    store, _, mallory = setup
    [check] = check_signatures(
        MANIFEST, [SignatureFile("SHA256SUMS.minisig", mallory.sign())], store
    )
    assert (check.valid, check.signer, check.fingerprint) == (False, None, mallory.fingerprint)
    assert check.reason == (
        f"signed by minisign key {mallory.fingerprint} which is not in the trust store"
    )


def test_key_id_of_a_trusted_key_on_an_untrusted_signature_does_not_help(
    setup: tuple[TrustStore, Signer, Signer],
) -> None:
    """mallory relabels his signature with alice's key id: still a bad signature."""
    store, alice, mallory = setup
    forged = minisign_keys.SecretKey(key_id=alice.secret.key_id, private=mallory.secret.private)
    data = minisign_keys.sign(MANIFEST, forged, "bundle 1")
    [check] = check_signatures(MANIFEST, [SignatureFile("SHA256SUMS.minisig", data)], store)
    assert not check.valid and check.reason.startswith("bad signature by alice")


def test_altered_trusted_comment_is_rejected(setup: tuple[TrustStore, Signer, Signer]) -> None:
    store, alice, _ = setup
    data = alice.sign().replace(b"trusted comment: bundle 1", b"trusted comment: bundle 9")
    [check] = check_signatures(MANIFEST, [SignatureFile("SHA256SUMS.minisig", data)], store)
    assert not check.valid and "trusted comment" in check.reason


@pytest.mark.parametrize(
    "data",
    [
        b"untrusted comment: cut short\n",
        b"untrusted comment: x\n" + b"A" * 100 + b"\ntrusted comment: y\nBBBB\n",
    ],
)
def test_broken_minisign_files_are_invalid_not_errors(
    setup: tuple[TrustStore, Signer, Signer], data: bytes
) -> None:
    [check] = check_signatures(MANIFEST, [SignatureFile("x.minisig", data)], setup[0])
    assert check.scheme == "minisign" and not check.valid
    assert check.reason.startswith("not a valid minisign signature")


@pytest.mark.parametrize("data", [b"", b"hello", b"MEUCIQDxyz=\n", b"\x00\x01\x02"])
def test_unrecognised_files_are_invalid(
    setup: tuple[TrustStore, Signer, Signer], data: bytes
) -> None:
    [check] = check_signatures(MANIFEST, [SignatureFile("SHA256SUMS.sig", data)], setup[0])
    assert (check.scheme, check.valid, check.signer) == ("unknown", False, None)
    assert "not a signature this station can read" in check.reason


def test_scheme_follows_content_not_name(setup: tuple[TrustStore, Signer, Signer]) -> None:
    store, alice, _ = setup
    [check] = check_signatures(MANIFEST, [SignatureFile("SHA256SUMS.sig", alice.sign())], store)
    assert check.scheme == "minisign" and check.valid


def test_every_file_gets_one_check_in_order(setup: tuple[TrustStore, Signer, Signer]) -> None:
    store, alice, mallory = setup
    files = [
        SignatureFile("a.minisig", mallory.sign()),
        SignatureFile("b.sig", b"junk"),
        SignatureFile("c.minisig", alice.sign()),
    ]
    checks = check_signatures(MANIFEST, files, store)
    assert [(c.file, c.valid) for c in checks] == [
        ("a.minisig", False),
        ("b.sig", False),
        ("c.minisig", True),
    ]
    assert check_signatures(MANIFEST, [], store) == []


def test_openpgp_without_gpgv_is_never_accepted(
    setup: tuple[TrustStore, Signer, Signer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    armored = b"-----BEGIN PGP SIGNATURE-----\n\niHUEABYKAB0WIQ\n-----END PGP SIGNATURE-----\n"
    [check] = check_signatures(MANIFEST, [SignatureFile("SHA256SUMS.asc", armored)], setup[0])
    assert (check.scheme, check.valid) == ("openpgp", False)
    assert check.reason == "gpgv is not installed on this station"


def test_to_json_has_the_documented_keys(setup: tuple[TrustStore, Signer, Signer]) -> None:
    store, alice, _ = setup
    [check] = check_signatures(MANIFEST, [SignatureFile("s.minisig", alice.sign())], store)
    assert check.to_json() == {
        "file": "s.minisig",
        "scheme": "minisign",
        "valid": True,
        "signer": "alice",
        "fingerprint": alice.fingerprint,
        "reason": check.reason,
    }


class _Crashing:
    scheme = "crashing"

    def recognises(self, signature: SignatureFile) -> bool:
        return signature.data.startswith(b"CRASH")

    def check(self, manifest: bytes, signature: SignatureFile, trust: TrustStore) -> SignatureCheck:
        raise RuntimeError("boom")


@pytest.fixture
def crashing_scheme() -> Iterator[None]:
    before = signatures.verifiers()
    signatures.register_verifier(_Crashing())
    yield
    signatures._VERIFIERS[:] = list(before)


def test_a_new_scheme_plugs_in_and_its_failures_reject(
    setup: tuple[TrustStore, Signer, Signer], crashing_scheme: None
) -> None:
    assert "crashing" in [v.scheme for v in signatures.verifiers()]
    [check] = check_signatures(MANIFEST, [SignatureFile("x.sig", b"CRASH")], setup[0])
    assert (check.scheme, check.valid) == ("crashing", False)
    assert "boom" in check.reason


FPR = "F089A14CD5FBF372E7E9F172F642CCBFB11D2974"
GOOD = "GOODSIG F642CCBFB11D2974 Alice <alice@example.org>"
VALID = f"VALIDSIG {FPR} 2026-11-27 1795746579 0 4 0 22 8 00 {FPR}"


def _status(*records: str) -> str:
    return "".join(f"[GNUPG:] {record}\n" for record in ("NEWSIG", *records))


@pytest.mark.parametrize(
    ("status", "returncode", "outcome"),
    [
        (_status(GOOD, VALID), 0, openpgp.Outcome.GOOD),
        (_status(GOOD, VALID), 2, openpgp.Outcome.ERROR),  # gpgv's exit status must agree
        (_status(GOOD), 0, openpgp.Outcome.ERROR),  # GOODSIG alone is not enough
        (_status("REVKEYSIG F642CCBFB11D2974 Alice", VALID), 0, openpgp.Outcome.REVOKED_KEY),
        (_status("EXPKEYSIG F642CCBFB11D2974 Alice", VALID), 0, openpgp.Outcome.EXPIRED_KEY),
        (_status("EXPSIG F642CCBFB11D2974 Alice", VALID), 0, openpgp.Outcome.EXPIRED_SIGNATURE),
        (_status(GOOD, VALID.replace(" 00 ", " 13 ")), 0, openpgp.Outcome.ERROR),
        (_status(GOOD, VALID) + _status(GOOD, VALID), 0, openpgp.Outcome.ERROR),
        (
            _status("ERRSIG F642CCBFB11D2974 22 8 00 1795746579 9 -", "NO_PUBKEY X"),
            2,
            openpgp.Outcome.NO_PUBKEY,
        ),
        (_status("ERRSIG F642CCBFB11D2974 22 8 00 1795746579 4 -"), 2, openpgp.Outcome.ERROR),
        ("", 2, openpgp.Outcome.ERROR),
    ],
)
def test_gpgv_status_is_read_fail_closed(
    status: str, returncode: int, outcome: openpgp.Outcome
) -> None:
    result = openpgp.parse_status(status, returncode)
    assert result.outcome is outcome
    if outcome is openpgp.Outcome.GOOD:
        assert result.fingerprint == FPR


def test_subkey_signature_maps_to_the_primary_fingerprint() -> None:
    subkey = "A" * 40
    valid = f"VALIDSIG {subkey} 2026-11-27 1795746579 0 4 0 22 8 00 {FPR}"
    assert openpgp.parse_status(_status(GOOD, valid), 0).fingerprint == FPR
