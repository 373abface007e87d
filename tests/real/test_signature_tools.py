"""Signatures made and checked by the real tools: minisign 0.11 and GnuPG (gpg, gpgv).

The station must accept what signers' real tools produce, refuse what they would refuse, and
its own signing must be readable by minisign. gpg runs in a throw-away GNUPGHOME under a short
/tmp path (gpg-agent's socket path is length-limited); its agent is stopped afterwards.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from station.bundle.model import SignatureFile
from station.publish import minisign_keys
from station.verify import minisign
from station.verify.signatures import check_signatures
from station.verify.trust import TrustStore

pytestmark = pytest.mark.real

MANIFEST = b"a" * 64 + b"  images/app.tar\n" + b"b" * 64 + b"  sbom/app.spdx.json\n"


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        print(f"skipping: {tool} is not installed")
        pytest.skip(f"{tool} is not installed")
    return path


def _run(args: list[str], input: bytes | None = b"") -> subprocess.CompletedProcess[bytes]:
    """Run a tool with no terminal input; a failure shows the tool's own message."""
    result = subprocess.run(args, input=input, capture_output=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return result


# --- minisign -------------------------------------------------------------------------------


@pytest.fixture
def minisign_key(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A key pair made by `minisign -G -W`, its public half in a trust folder as 'producer'."""
    _need("minisign")
    trust = tmp_path / "trust"
    trust.mkdir()
    _run(["minisign", "-G", "-W", "-p", str(trust / "producer.pub"), "-s", str(tmp_path / "m.key")])
    (tmp_path / "SHA256SUMS").write_bytes(MANIFEST)
    return tmp_path / "m.key", trust / "producer.pub", trust


@pytest.mark.parametrize("legacy", [False, True], ids=["prehashed", "legacy"])
def test_minisign_signatures_verify_in_the_station(
    minisign_key: tuple[Path, Path, Path], tmp_path: Path, legacy: bool
) -> None:
    secret, public, trust = minisign_key
    sums = tmp_path / "SHA256SUMS"
    form = ["-l"] if legacy else []
    _run(["minisign", "-S", *form, "-t", "release 42", "-s", str(secret), "-m", str(sums)])
    data = (tmp_path / "SHA256SUMS.minisig").read_bytes()
    assert minisign.parse_signature(data).prehashed is not legacy
    store = TrustStore.load(trust)
    [check] = check_signatures(MANIFEST, [SignatureFile("SHA256SUMS.minisig", data)], store)
    assert check.valid and check.signer == "producer"
    assert check.fingerprint == minisign.parse_public_key(public.read_bytes()).fingerprint
    assert check.fingerprint in public.read_text()  # as minisign itself prints the key id
    [tampered] = check_signatures(
        MANIFEST + b"c" * 64 + b"  extra\n", [SignatureFile("SHA256SUMS.minisig", data)], store
    )
    assert not tampered.valid and tampered.reason.startswith("bad signature by producer")


@pytest.mark.parametrize("prehashed", [True, False], ids=["prehashed", "legacy"])
def test_station_signatures_verify_with_minisign(
    minisign_key: tuple[Path, Path, Path], tmp_path: Path, prehashed: bool
) -> None:
    """A key made by minisign, loaded and used by the station; minisign checks the result."""
    secret, public, _ = minisign_key
    key = minisign_keys.load_secret_key(secret)
    sig = tmp_path / "SHA256SUMS.minisig"
    sig.write_bytes(minisign_keys.sign(MANIFEST, key, "station signed", prehashed=prehashed))
    result = _run(["minisign", "-V", "-m", str(tmp_path / "SHA256SUMS"), "-p", str(public)])
    assert b"Trusted comment: station signed" in result.stdout
    (tmp_path / "SHA256SUMS").write_bytes(MANIFEST + b"\n")
    refused = subprocess.run(
        ["minisign", "-V", "-m", str(tmp_path / "SHA256SUMS"), "-p", str(public)],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert refused.returncode != 0


def test_station_generated_key_signs_with_minisign(tmp_path: Path) -> None:
    _need("minisign")
    secret, public = minisign_keys.generate_keypair("producer", tmp_path)
    data = tmp_path / "SHA256SUMS"
    data.write_bytes(MANIFEST)
    _run(["minisign", "-S", "-s", str(secret), "-m", str(data)])
    _run(["minisign", "-V", "-m", str(data), "-p", str(public)])
    trust = tmp_path / "trust"
    trust.mkdir()
    shutil.copy(public, trust / "producer.pub")
    sig = SignatureFile("SHA256SUMS.minisig", (tmp_path / "SHA256SUMS.minisig").read_bytes())
    [check] = check_signatures(MANIFEST, [sig], TrustStore.load(trust))
    assert check.valid and check.signer == "producer"


def test_minisign_signature_by_a_key_outside_the_trust_store_is_rejected(
    minisign_key: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    _, _, trust = minisign_key
    other = tmp_path / "other"
    other.mkdir()
    _run(["minisign", "-G", "-W", "-p", str(other / "o.pub"), "-s", str(other / "o.key")])
    data = other / "SHA256SUMS"
    data.write_bytes(MANIFEST)
    _run(["minisign", "-S", "-s", str(other / "o.key"), "-m", str(data)])
    sig = SignatureFile("SHA256SUMS.minisig", (other / "SHA256SUMS.minisig").read_bytes())
    [check] = check_signatures(MANIFEST, [sig], TrustStore.load(trust))
    fingerprint = minisign.parse_public_key((other / "o.pub").read_bytes()).fingerprint
    assert not check.valid and check.fingerprint == fingerprint
    assert "not in the trust store" in check.reason


# --- OpenPGP --------------------------------------------------------------------------------


@dataclass
class GnuPG:
    """A throw-away GnuPG home with signing keys, and helpers that act in it."""

    home: Path

    def gpg(self, *args: str, stdin: bytes = b"") -> bytes:
        result = _run(["gpg", "--homedir", str(self.home), "--batch", "--no-tty", *args], stdin)
        return result.stdout

    def new_key(self, uid: str, expire: str = "never", *extra: str) -> str:
        self.gpg(*extra, "--passphrase", "", "--quick-gen-key", uid, "ed25519", "sign", expire)
        return self.fingerprint(uid)

    def fingerprint(self, who: str) -> str:
        for line in self.gpg("--with-colons", "--list-keys", who).decode().splitlines():
            if line.startswith("fpr:"):
                return line.split(":")[9]
        raise AssertionError(f"no key for {who}")

    def sign(self, who: str, data: bytes, *, armor: bool, extra: tuple[str, ...] = ()) -> bytes:
        path = self.home / "to-sign"
        path.write_bytes(data)
        out = self.home / "signature"
        out.unlink(missing_ok=True)
        flags = ["--armor"] if armor else []
        self.gpg(*extra, "--local-user", who, *flags, "--detach-sign", "-o", str(out), str(path))
        return out.read_bytes()


@pytest.fixture(scope="module")
def gnupg() -> Iterator[GnuPG]:
    _need("gpg")
    _need("gpgv")
    home = Path(tempfile.mkdtemp(prefix="gh", dir="/tmp"))
    home.chmod(0o700)
    try:
        yield GnuPG(home)
    finally:
        subprocess.run(
            ["gpgconf", "--homedir", str(home), "--kill", "all"],
            capture_output=True,
            timeout=30,
            check=False,
        )
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def pgp_keys(gnupg: GnuPG) -> dict[str, str]:
    return {
        "alice": gnupg.new_key("Alice <alice@example.org>"),
        "bob": gnupg.new_key("Bob <bob@example.org>"),
        "eve": gnupg.new_key("Eve <eve@example.org>"),
    }


@pytest.fixture
def pgp_trust(gnupg: GnuPG, pgp_keys: dict[str, str], tmp_path: Path) -> TrustStore:
    """alice as an armored .asc, bob as a binary .gpg; eve is not trusted."""
    trust = tmp_path / "trust"
    trust.mkdir()
    (trust / "alice.asc").write_bytes(gnupg.gpg("--armor", "--export", pgp_keys["alice"]))
    (trust / "bob.gpg").write_bytes(gnupg.gpg("--export", pgp_keys["bob"]))
    return TrustStore.load(trust)


def test_openpgp_keys_load_with_their_primary_fingerprints(
    pgp_trust: TrustStore, pgp_keys: dict[str, str]
) -> None:
    assert pgp_trust.problems == ()
    assert [(k.name, k.scheme, k.fingerprint) for k in pgp_trust.keys] == [
        ("alice", "openpgp", pgp_keys["alice"]),
        ("bob", "openpgp", pgp_keys["bob"]),
    ]
    assert pgp_trust.keys[0].description == "Alice <alice@example.org>"


@pytest.mark.parametrize(("who", "armor"), [("alice", True), ("bob", False), ("alice", False)])
def test_gpg_detached_signatures_verify(
    gnupg: GnuPG, pgp_keys: dict[str, str], pgp_trust: TrustStore, who: str, armor: bool
) -> None:
    name = "SHA256SUMS.asc" if armor else "SHA256SUMS.sig"
    sig = SignatureFile(name, gnupg.sign(pgp_keys[who], MANIFEST, armor=armor))
    [check] = check_signatures(MANIFEST, [sig], pgp_trust)
    assert check.valid, check.reason
    assert (check.scheme, check.signer, check.fingerprint) == ("openpgp", who, pgp_keys[who])
    assert check.reason == f"good signature by {who} (OpenPGP key {pgp_keys[who]})"


def test_gpg_signature_over_other_bytes_is_bad(
    gnupg: GnuPG, pgp_keys: dict[str, str], pgp_trust: TrustStore
) -> None:
    sig = SignatureFile("SHA256SUMS.gpg", gnupg.sign(pgp_keys["alice"], MANIFEST, armor=False))
    [check] = check_signatures(MANIFEST.replace(b"app", b"apq"), [sig], pgp_trust)
    assert not check.valid
    assert check.reason.startswith("bad signature by alice")
    assert check.signer == "alice" and check.fingerprint == pgp_keys["alice"]


def test_gpg_signature_by_untrusted_key_is_rejected(
    gnupg: GnuPG, pgp_keys: dict[str, str], pgp_trust: TrustStore
) -> None:
    sig = SignatureFile("SHA256SUMS.asc", gnupg.sign(pgp_keys["eve"], MANIFEST, armor=True))
    [check] = check_signatures(MANIFEST, [sig], pgp_trust)
    assert (check.valid, check.signer) == (False, None)
    assert check.fingerprint == pgp_keys["eve"]
    assert (
        check.reason == f"signed by OpenPGP key {pgp_keys['eve']} which is not in the trust store"
    )


def test_gpg_users_keyring_is_not_consulted(
    gnupg: GnuPG, pgp_keys: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """eve's key sits in GNUPGHOME's keyring; the station still does not know her."""
    monkeypatch.setenv("GNUPGHOME", str(gnupg.home))
    empty = tmp_path / "trust"
    empty.mkdir()
    sig = SignatureFile("SHA256SUMS.sig", gnupg.sign(pgp_keys["eve"], MANIFEST, armor=False))
    [check] = check_signatures(MANIFEST, [sig], TrustStore.load(empty))
    assert not check.valid and "not in the trust store" in check.reason


def test_subkey_signature_names_the_primary_key(gnupg: GnuPG, tmp_path: Path) -> None:
    primary = gnupg.new_key("Carol <carol@example.org>")
    gnupg.gpg("--passphrase", "", "--quick-add-key", primary, "ed25519", "sign")
    listing = gnupg.gpg("--with-colons", "--list-keys", primary).decode().splitlines()
    fprs = [line.split(":")[9] for line in listing if line.startswith("fpr:")]
    subkey = fprs[1]
    trust = tmp_path / "trust"
    trust.mkdir()
    (trust / "carol.asc").write_bytes(gnupg.gpg("--armor", "--export", primary))
    store = TrustStore.load(trust)
    assert store.keys[0].subkeys == (subkey,)
    sig = SignatureFile("SHA256SUMS.sig", gnupg.sign(subkey + "!", MANIFEST, armor=False))
    [check] = check_signatures(MANIFEST, [sig], store)
    assert check.valid and (check.signer, check.fingerprint) == ("carol", primary)
    [bad] = check_signatures(MANIFEST + b"x", [sig], store)
    assert not bad.valid and bad.signer == "carol"


def test_revoked_key_is_refused(gnupg: GnuPG, tmp_path: Path) -> None:
    fpr = gnupg.new_key("Rita <rita@example.org>")
    sig = SignatureFile("SHA256SUMS.sig", gnupg.sign(fpr, MANIFEST, armor=False))
    certificate = (gnupg.home / "openpgp-revocs.d" / f"{fpr}.rev").read_bytes()
    gnupg.gpg("--import", stdin=certificate.replace(b"\n:-----BEGIN", b"\n-----BEGIN"))
    trust = tmp_path / "trust"
    trust.mkdir()
    (trust / "rita.gpg").write_bytes(gnupg.gpg("--export", fpr))
    [check] = check_signatures(MANIFEST, [sig], TrustStore.load(trust))
    assert not check.valid and "revoked" in check.reason and check.signer == "rita"


def test_expired_key_is_refused(gnupg: GnuPG, tmp_path: Path) -> None:
    past = "--faked-system-time=20200101T000000!"
    fpr = gnupg.new_key("Old <old@example.org>", "1d", past)
    sig = SignatureFile("SHA256SUMS.sig", gnupg.sign(fpr, MANIFEST, armor=False, extra=(past,)))
    trust = tmp_path / "trust"
    trust.mkdir()
    (trust / "old.gpg").write_bytes(gnupg.gpg("--export", fpr))
    [check] = check_signatures(MANIFEST, [sig], TrustStore.load(trust))
    assert not check.valid and "expired" in check.reason


def test_two_signatures_in_one_file_are_not_accepted(
    gnupg: GnuPG, pgp_keys: dict[str, str], pgp_trust: TrustStore
) -> None:
    both = gnupg.sign(pgp_keys["alice"], MANIFEST, armor=False) + gnupg.sign(
        pgp_keys["eve"], MANIFEST, armor=False
    )
    [check] = check_signatures(MANIFEST, [SignatureFile("SHA256SUMS.sig", both)], pgp_trust)
    assert not check.valid and "2 signatures" in check.reason


@pytest.mark.parametrize(
    "data",
    [
        b"\xc2\x05garbage-after-a-signature-packet-tag",
        b"-----BEGIN PGP SIGNATURE-----\n\nAAAA\n-----END PGP SIGNATURE-----\n",
    ],
)
def test_broken_openpgp_signatures_are_invalid(pgp_trust: TrustStore, data: bytes) -> None:
    [check] = check_signatures(MANIFEST, [SignatureFile("SHA256SUMS.sig", data)], pgp_trust)
    assert (check.scheme, check.valid) == ("openpgp", False)
    assert check.reason


def test_secret_and_broken_openpgp_key_files_are_not_trusted(
    gnupg: GnuPG, pgp_keys: dict[str, str], tmp_path: Path
) -> None:
    trust = tmp_path / "trust"
    trust.mkdir()
    secret = gnupg.gpg(
        "--armor",
        "--pinentry-mode",
        "loopback",
        "--passphrase",
        "",
        "--export-secret-keys",
        pgp_keys["alice"],
    )
    (trust / "alice.asc").write_bytes(secret)
    (trust / "broken.gpg").write_bytes(b"\x99\x01\x00not a key")
    both = gnupg.gpg("--export", pgp_keys["alice"], pgp_keys["bob"])
    (trust / "two.gpg").write_bytes(both)
    store = TrustStore.load(trust)
    assert store.keys == ()
    messages = {Path(p.path or "").name: p.message for p in store.problems}
    assert "secret key" in messages["alice.asc"]
    assert "not a readable OpenPGP key" in messages["broken.gpg"]
    assert "holds 2 OpenPGP keys" in messages["two.gpg"]


def test_mixed_trust_store_checks_each_scheme(
    gnupg: GnuPG, pgp_keys: dict[str, str], tmp_path: Path
) -> None:
    """One manifest signed by minisign and by gpg: one verdict each, in the order given."""
    trust = tmp_path / "trust"
    trust.mkdir()
    secret, _ = minisign_keys.generate_keypair("release", trust)
    secret = secret.rename(tmp_path / "release.key")
    (trust / "alice.asc").write_bytes(gnupg.gpg("--armor", "--export", pgp_keys["alice"]))
    files = [
        SignatureFile("SHA256SUMS.asc", gnupg.sign(pgp_keys["alice"], MANIFEST, armor=True)),
        SignatureFile(
            "SHA256SUMS.minisig",
            minisign_keys.sign(MANIFEST, minisign_keys.load_secret_key(secret), "r1"),
        ),
    ]
    checks = check_signatures(MANIFEST, files, TrustStore.load(trust))
    assert [(c.scheme, c.signer, c.valid) for c in checks] == [
        ("openpgp", "alice", True),
        ("minisign", "release", True),
    ]
