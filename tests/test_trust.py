"""The trust store: which key files are trusted, under which name, and which are refused."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from station.cli.main import main
from station.errors import StationError
from station.publish import minisign_keys
from station.verify import minisign
from station.verify.trust import KEY_LOADERS, TrustedKey, TrustStore


def _public_key(tmp_path: Path, name: str) -> bytes:
    keys = tmp_path / "keys"
    keys.mkdir(exist_ok=True)
    _, public_path = minisign_keys.generate_keypair(name, keys)
    return public_path.read_bytes()


@pytest.fixture
def trust_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "trust"
    folder.mkdir()
    return folder


def test_minisign_keys_are_trusted_under_their_file_name(tmp_path: Path, trust_dir: Path) -> None:
    for name in ("zoe", "alice", "mallory-2026"):
        (trust_dir / f"{name}.pub").write_bytes(_public_key(tmp_path, name))
    store = TrustStore.load(trust_dir)
    assert [key.name for key in store.keys] == ["alice", "mallory-2026", "zoe"]
    assert store.problems == ()
    alice = store.keys[0]
    expected = minisign.parse_public_key((trust_dir / "alice.pub").read_bytes()).fingerprint
    assert (alice.scheme, alice.fingerprint, alice.path) == (
        "minisign",
        expected,
        trust_dir / "alice.pub",
    )
    # As minisign prints it: upper-case hex without leading zeros, as in the key's own header.
    header = (trust_dir / "alice.pub").read_text().splitlines()[0]
    assert header == f"untrusted comment: minisign public key {alice.fingerprint}"
    assert alice.fingerprint == alice.fingerprint.upper() and not alice.fingerprint.startswith("0")
    assert store.find("minisign", expected.lower()) == alice
    assert store.find("openpgp", expected) is None


def test_broken_key_files_are_listed_and_never_trusted(tmp_path: Path, trust_dir: Path) -> None:
    (trust_dir / "good.pub").write_bytes(_public_key(tmp_path, "good"))
    (trust_dir / "empty.pub").write_bytes(b"")
    (trust_dir / "garbage.pub").write_bytes(b"untrusted comment: x\nnot base64!!\n")
    (trust_dir / "cosign.pub").write_bytes(b"-----BEGIN PUBLIC KEY-----\nMFkw\n")
    (trust_dir / "notes.txt").write_text("who signs what")
    (trust_dir / ".hidden").write_text("editor backup")
    store = TrustStore.load(trust_dir)
    assert [key.name for key in store.keys] == ["good"]
    messages = {Path(problem.path or "").name: problem.message for problem in store.problems}
    assert set(messages) == {"empty.pub", "garbage.pub", "cosign.pub", "notes.txt"}
    for name, message in messages.items():
        assert str(trust_dir / name) in message
    assert "base64" in messages["garbage.pub"]
    assert "not a key file" in messages["notes.txt"]


def test_links_and_special_files_are_refused(tmp_path: Path, trust_dir: Path) -> None:
    real_key = tmp_path / "outside.pub"
    real_key.write_bytes(_public_key(tmp_path, "outside"))
    (trust_dir / "linked.pub").symlink_to(real_key)
    os.mkfifo(trust_dir / "fifo.pub")
    (trust_dir / "folder.pub").mkdir()
    (trust_dir / "red\x1b[31m.pub").write_bytes(real_key.read_bytes())
    store = TrustStore.load(trust_dir)  # must not block on the FIFO
    assert store.keys == ()
    messages = {Path(problem.path or "").name: problem.message for problem in store.problems}
    assert "link" in messages["linked.pub"]
    assert "not a regular file" in messages["fifo.pub"]
    assert "not a regular file" in messages["folder.pub"]
    assert "control character" in messages["red\x1b[31m.pub"]
    assert not any("\x1b" in message for message in messages.values())


def test_secret_key_in_the_trust_folder_is_flagged(tmp_path: Path, trust_dir: Path) -> None:
    secret_path, _ = minisign_keys.generate_keypair("oops", trust_dir)
    store = TrustStore.load(trust_dir)
    assert [key.name for key in store.keys] == ["oops"]
    [problem] = store.problems
    assert problem.path == str(secret_path) and "secret key" in problem.message


def test_secret_key_renamed_to_pub_is_not_trusted(tmp_path: Path, trust_dir: Path) -> None:
    secret_path, _ = minisign_keys.generate_keypair("oops", tmp_path)
    (trust_dir / "oops.pub").write_bytes(secret_path.read_bytes())
    store = TrustStore.load(trust_dir)
    assert store.keys == ()
    assert len(store.problems) == 1


def test_the_same_key_twice_keeps_one_name(tmp_path: Path, trust_dir: Path) -> None:
    data = _public_key(tmp_path, "alice")
    (trust_dir / "alice.pub").write_bytes(data)
    (trust_dir / "release.pub").write_bytes(data)
    store = TrustStore.load(trust_dir)
    assert [key.name for key in store.keys] == ["alice"]
    [problem] = store.problems
    assert "release.pub" in problem.message and "alice.pub" in problem.message


def test_order_is_deterministic(tmp_path: Path, trust_dir: Path) -> None:
    for name in ("b", "a", "c"):
        (trust_dir / f"{name}.pub").write_bytes(_public_key(tmp_path, name))
    (trust_dir / "z.txt").write_text("x")
    (trust_dir / "y.txt").write_text("x")
    first, second = TrustStore.load(trust_dir), TrustStore.load(trust_dir)
    assert first == second
    assert [p.path for p in first.problems] == [str(trust_dir / "y.txt"), str(trust_dir / "z.txt")]


def test_missing_folder_is_an_error_with_a_hint(tmp_path: Path) -> None:
    with pytest.raises(StationError, match="does not exist") as caught:
        TrustStore.load(tmp_path / "nowhere")
    assert caught.value.hint and ".pub" in caught.value.hint
    (tmp_path / "file").write_text("x")
    with pytest.raises(StationError, match="not a folder"):
        TrustStore.load(tmp_path / "file")


def test_empty_folder_trusts_nobody(trust_dir: Path) -> None:
    store = TrustStore.load(trust_dir)
    assert store.keys == () and store.problems == ()


def test_cli_list_shows_keys_and_refused_files(
    tmp_path: Path, trust_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (trust_dir / "alice.pub").write_bytes(_public_key(tmp_path, "alice"))
    (trust_dir / "broken.pub").write_bytes(b"junk")
    fingerprint = TrustStore.load(trust_dir).keys[0].fingerprint
    assert main(["keys", "list", "--trust", str(trust_dir)]) == 0
    out = capsys.readouterr().out
    assert f"alice  minisign  {fingerprint}" in out
    assert f"not trusted: {trust_dir / 'broken.pub'}" in out
    assert main(["keys", "list", "--trust", str(trust_dir), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert [(k["name"], k["scheme"], k["fingerprint"]) for k in document["keys"]] == [
        ("alice", "minisign", fingerprint)
    ]
    assert [p["path"] for p in document["problems"]] == [str(trust_dir / "broken.pub")]


def test_cli_list_defaults_to_the_station_homes_trust_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--home", str(tmp_path), "keys", "list"]) == 2
    assert f"{tmp_path / 'trust'} does not exist" in capsys.readouterr().err
    (tmp_path / "trust").mkdir()
    (tmp_path / "trust" / "ops.pub").write_bytes(_public_key(tmp_path, "ops"))
    assert main(["--home", str(tmp_path), "keys", "list"]) == 0
    assert "ops  minisign" in capsys.readouterr().out


def test_a_new_key_format_with_a_longer_ending_takes_precedence(
    tmp_path: Path, trust_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def ssh_key(path: Path, data: bytes) -> TrustedKey:
        return TrustedKey(path.name.removesuffix(".ssh.pub"), "ssh", "SHA256:x", path, data)

    monkeypatch.setitem(KEY_LOADERS, ".ssh.pub", ssh_key)
    (trust_dir / "ops.ssh.pub").write_bytes(b"ssh-ed25519 AAAA ops@example")
    (trust_dir / "alice.pub").write_bytes(_public_key(tmp_path, "alice"))
    store = TrustStore.load(trust_dir)
    assert [(k.name, k.scheme) for k in store.keys] == [("alice", "minisign"), ("ops", "ssh")]
    assert store.problems == ()


def test_a_crashing_key_loader_leaves_that_key_untrusted(
    tmp_path: Path, trust_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(path: Path, data: bytes) -> TrustedKey:
        raise ValueError("unexpected curve")

    monkeypatch.setitem(KEY_LOADERS, ".pem", broken)
    (trust_dir / "cosign.pem").write_bytes(b"-----BEGIN PUBLIC KEY-----\n")
    (trust_dir / "alice.pub").write_bytes(_public_key(tmp_path, "alice"))
    store = TrustStore.load(trust_dir)
    assert [k.name for k in store.keys] == ["alice"]
    [problem] = store.problems
    assert "cosign.pem" in problem.message and "unexpected curve" in problem.message
