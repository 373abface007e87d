"""SSH signatures made by the real `ssh-keygen -Y sign` verify here, and only where they should."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from station.bundle.model import SignatureFile
from station.verify import sshsig
from station.verify.trust import TrustStore

pytestmark = pytest.mark.real

MANIFEST = b"0123abcd  images/ops.tar\n"
KEY_TYPES = [("ed25519", []), ("ecdsa", ["-b", "256"]), ("ecdsa", ["-b", "384"]),
             ("rsa", ["-b", "3072"])]


@pytest.fixture(scope="module")
def ssh_keygen() -> str:
    tool = shutil.which("ssh-keygen")
    if tool is None:
        pytest.skip("ssh-keygen is not installed (Debian package openssh-client)")
    return tool


def _keygen(tool: str, folder: Path, name: str, kind: str, extra: list[str]) -> Path:
    key = folder / name
    subprocess.run(
        [tool, "-q", "-t", kind, *extra, "-N", "", "-C", f"{name}@producer", "-f", str(key)],
        check=True, capture_output=True,
    )
    return key


def _sign(
    tool: str, key: Path, data: bytes, folder: Path, namespace: str = "file",
    options: tuple[str, ...] = (),
) -> bytes:
    """Sign a fresh copy of `data` (ssh-keygen does not overwrite an existing .sig)."""
    work = folder / f"sign-{len(list(folder.glob('sign-*')))}"
    work.mkdir()
    target = work / "SHA256SUMS"
    target.write_bytes(data)
    subprocess.run([tool, "-Y", "sign", "-f", str(key), "-n", namespace, *options, str(target)],
                   check=True, capture_output=True)
    return (work / "SHA256SUMS.sig").read_bytes()


@pytest.mark.parametrize(("kind", "extra"), KEY_TYPES, ids=["ed25519", "p256", "p384", "rsa"])
def test_ssh_keygen_signature_verifies(
    ssh_keygen: str, tmp_path: Path, kind: str, extra: list[str]
) -> None:
    key = _keygen(ssh_keygen, tmp_path, "alice", kind, extra)
    public = key.with_suffix(".pub").read_bytes()
    signature = _sign(ssh_keygen, key, MANIFEST, tmp_path)
    result = sshsig.verify(MANIFEST, signature, public)
    assert result.valid, result.reason
    shown = subprocess.run([ssh_keygen, "-l", "-f", str(key.with_suffix(".pub"))],
                           check=True, capture_output=True, text=True).stdout.split()[1]
    assert result.signer == shown
    assert not sshsig.verify(MANIFEST + b"x", signature, public).valid


def test_sha256_hash_option_verifies(ssh_keygen: str, tmp_path: Path) -> None:
    key = _keygen(ssh_keygen, tmp_path, "alice", "ed25519", [])
    signature = _sign(ssh_keygen, key, MANIFEST, tmp_path, options=("-O", "hashalg=sha256"))
    assert sshsig.parse_signature(signature).hash_algorithm == "sha256"
    assert sshsig.verify(MANIFEST, signature, key.with_suffix(".pub").read_bytes()).valid


def test_other_namespace_and_other_key_are_refused(ssh_keygen: str, tmp_path: Path) -> None:
    alice = _keygen(ssh_keygen, tmp_path, "alice", "ed25519", [])
    bob = _keygen(ssh_keygen, tmp_path, "bob", "ed25519", [])
    git_sig = _sign(ssh_keygen, alice, MANIFEST, tmp_path, namespace="git")
    result = sshsig.verify(MANIFEST, git_sig, alice.with_suffix(".pub").read_bytes())
    assert not result.valid and "namespace is 'git'" in result.reason
    file_sig = _sign(ssh_keygen, alice, MANIFEST, tmp_path)
    result = sshsig.verify(MANIFEST, file_sig, bob.with_suffix(".pub").read_bytes())
    assert not result.valid and "not by" in result.reason


def test_ssh_keygen_agrees_with_the_station(ssh_keygen: str, tmp_path: Path) -> None:
    """What the station accepts, `ssh-keygen -Y verify` accepts with an allowed_signers file."""
    key = _keygen(ssh_keygen, tmp_path, "alice", "ed25519", [])
    public = key.with_suffix(".pub").read_bytes()
    signature = _sign(ssh_keygen, key, MANIFEST, tmp_path)
    assert sshsig.verify(MANIFEST, signature, public).valid
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f'alice@example.org namespaces="file" {public.decode()}')
    [entry] = sshsig.parse_allowed_signers(allowed.read_text())
    assert entry.principals == ("alice@example.org",) and entry.allows("file")
    assert not entry.allows("git") and entry.key == sshsig.parse_public_key(public)
    (tmp_path / "checked.sig").write_bytes(signature)
    outcome = subprocess.run(
        [ssh_keygen, "-Y", "verify", "-f", str(allowed), "-I", "alice@example.org",
         "-n", "file", "-s", str(tmp_path / "checked.sig")],
        input=MANIFEST, capture_output=True,
    )
    assert outcome.returncode == 0, outcome.stderr


def test_trust_store_and_verifier_registry(ssh_keygen: str, tmp_path: Path) -> None:
    trust_dir = tmp_path / "trust"
    trust_dir.mkdir()
    alice = _keygen(ssh_keygen, tmp_path, "alice", "ed25519", [])
    mallory = _keygen(ssh_keygen, tmp_path, "mallory", "ed25519", [])
    (trust_dir / "alice.ssh.pub").write_bytes(alice.with_suffix(".pub").read_bytes())
    trust = TrustStore.load(trust_dir)
    assert [(k.name, k.scheme) for k in trust.keys] == [("alice", "ssh")], trust.problems

    from station.verify.signatures import check_signatures

    good = SignatureFile("SHA256SUMS.sshsig", _sign(ssh_keygen, alice, MANIFEST, tmp_path))
    stranger = SignatureFile("x.sshsig", _sign(ssh_keygen, mallory, MANIFEST, tmp_path))
    first, second = check_signatures(MANIFEST, [good, stranger], trust)
    assert first.valid and first.scheme == "ssh" and first.signer == "alice"
    assert not second.valid and "not in the trust store" in second.reason
