"""Each policy rule, with a bundle that passes it and one that it refuses."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from station.approval import OperatorStore, Role
from station.audit import AuditLog
from station.bundle.model import Bundle, BundleFormat, BundleInfo, Entry, Item, ItemKind
from station.bundle.reader import open_bundle
from station.config import StationConfig
from station.errors import StationError
from station.publish.bundle import create_bundle
from station.verify.policy import Policy, SequenceStore, matches_prefix
from station.verify.signatures import SignatureCheck
from station.verify.trust import TrustStore
from station.verify.verification import verify_bundle
from tests.builders import Signer

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
OPS = "registry.example.org/ops/"


def _policy(tmp_path: Path, text: str) -> Policy:
    (tmp_path / "station.toml").write_text(text)
    return Policy.from_config(StationConfig.load(tmp_path))


def _bundle(
    references: tuple[str, ...] = (OPS + "api:1.0",),
    *,
    channel: str | None = "prod",
    sequence: int = 5,
    size: int | None = 1000,
) -> Bundle:
    entry = Entry("images/api.tar", "0" * 64, size)
    info = None if channel is None else BundleInfo("ops", channel, sequence, "2026-06-01", "ci")
    return Bundle(
        root=Path("/media/x"),
        format=BundleFormat.NATIVE if info else BundleFormat.SHA256SUMS,
        manifest_name="bundle.json" if info else "SHA256SUMS",
        manifest=b"{}",
        digest="sha256:" + "ab" * 32,
        entries=(entry,),
        items=(Item("images/api.tar", ItemKind.IMAGE_ARCHIVE, (entry,), references),),
        info=info,
    )


def _sig(signer: str, valid: bool = True) -> SignatureCheck:
    return SignatureCheck(f"{signer}.minisig", "minisign", valid, signer, "FP" + signer, "")


def _codes(findings: list) -> list[str]:  # type: ignore[type-arg]
    return [f.code for f in findings]


def test_defaults_need_one_trusted_signer(tmp_path: Path) -> None:
    policy = Policy.from_config(StationConfig.load(tmp_path))
    assert policy == Policy(sequences=policy.sequences)
    assert policy.evaluate(_bundle(), [_sig("alice")], now=NOW) == []
    assert _codes(policy.evaluate(_bundle(), [_sig("alice", valid=False)], now=NOW)) == [
        "not-enough-signers"
    ]


def test_required_distinct_signers(tmp_path: Path) -> None:
    policy = _policy(tmp_path, "[policy]\nrequired_signers = 2\n")
    assert policy.evaluate(_bundle(), [_sig("alice"), _sig("bob")], now=NOW) == []
    [finding] = policy.evaluate(_bundle(), [_sig("alice"), _sig("alice")], now=NOW)
    assert finding.code == "not-enough-signers" and "1 counted (alice)" in finding.message


def test_signer_may_sign_only_its_image_prefixes(tmp_path: Path) -> None:
    policy = _policy(tmp_path, f'[policy.keys.alice]\nimages = ["{OPS}"]\n')
    assert policy.evaluate(_bundle(), [_sig("alice")], now=NOW) == []
    other = _bundle((OPS + "api:1.0", "registry.example.org/dev/tool:2"))
    [finding] = policy.evaluate(other, [_sig("alice")], now=NOW)
    assert finding.code == "not-enough-signers"
    assert "alice (may not sign registry.example.org/dev/tool:2" in finding.message
    # An unrestricted signer still counts for the same bundle.
    assert policy.evaluate(other, [_sig("alice"), _sig("bob")], now=NOW) == []


def test_expired_key_does_not_count(tmp_path: Path) -> None:
    policy = _policy(tmp_path, "[policy.keys.alice]\nexpires = 2026-06-01\n")
    [finding] = policy.evaluate(_bundle(), [_sig("alice")], now=NOW)
    assert "alice (key expired 2026-06-01)" in finding.message
    earlier = datetime(2026, 5, 31, 23, 59, tzinfo=UTC)
    assert policy.evaluate(_bundle(), [_sig("alice")], now=earlier) == []


def test_revoked_key_refuses_even_with_enough_other_signers(tmp_path: Path) -> None:
    policy = _policy(tmp_path, "[policy.keys.mallory]\nrevoked = true\n")
    assert policy.evaluate(_bundle(), [_sig("alice")], now=NOW) == []
    findings = policy.evaluate(_bundle(), [_sig("alice"), _sig("mallory")], now=NOW)
    assert _codes(findings) == ["key-revoked"]
    assert "mallory" in findings[0].message and findings[0].path == "mallory.minisig"


def test_allowed_references(tmp_path: Path) -> None:
    policy = _policy(tmp_path, f'[policy]\nallowed_references = ["{OPS}"]\n')
    assert policy.evaluate(_bundle(), [_sig("alice")], now=NOW) == []
    evil = _bundle(("registry.example.org/opsevil/api:1",))
    [finding] = policy.evaluate(evil, [_sig("alice")], now=NOW)
    assert finding.code == "reference-not-allowed" and "opsevil/api:1" in finding.message


@pytest.mark.parametrize(
    ("reference", "prefix", "expected"),
    [
        ("registry.example.org/ops/api:1", "registry.example.org/ops/", True),
        ("registry.example.org/ops/api:1", "registry.example.org/ops", True),
        ("registry.example.org/opsevil/x", "registry.example.org/ops", False),
        ("registry.example.org/ops:1", "registry.example.org/ops", True),
        ("other.org/ops/api", "registry.example.org/ops/", False),
    ],
)
def test_prefixes_match_at_a_name_boundary(reference: str, prefix: str, expected: bool) -> None:
    assert matches_prefix(reference, prefix) is expected


def test_max_bundle_size(tmp_path: Path) -> None:
    policy = _policy(tmp_path, "[policy]\nmax_bundle_bytes = 1000\n")
    assert policy.evaluate(_bundle(size=1000), [_sig("alice")], now=NOW) == []
    assert _codes(policy.evaluate(_bundle(size=1001), [_sig("alice")], now=NOW)) == [
        "bundle-too-large"
    ]
    # Sizes found while hashing count where the manifest did not declare them.
    sized = policy.evaluate(
        _bundle(size=None), [_sig("alice")], now=NOW, sizes={"images/api.tar": 5000}
    )
    assert _codes(sized) == ["bundle-too-large"]


def test_rollback_protection_and_audited_override(tmp_path: Path) -> None:
    policy = _policy(tmp_path, "[policy]\nrollback_protection = true\n")
    assert policy.evaluate(_bundle(sequence=5), [_sig("alice")], now=NOW) == []
    policy.record_import(_bundle(sequence=5))
    assert SequenceStore(tmp_path / "sequence.json").load() == {"prod": 5}
    for sequence in (5, 4):
        [finding] = policy.evaluate(_bundle(sequence=sequence), [_sig("alice")], now=NOW)
        assert finding.code == "rollback" and "last imported (5)" in finding.message
    assert policy.evaluate(_bundle(sequence=6), [_sig("alice")], now=NOW) == []
    assert policy.evaluate(_bundle(channel="test", sequence=1), [_sig("alice")], now=NOW) == []
    assert _codes(policy.evaluate(_bundle(channel=None), [_sig("alice")], now=NOW)) == [
        "rollback-unknown"
    ]

    store = OperatorStore(tmp_path / "operators.toml")
    admin = store.add("root", Role.ADMIN, "admin-pin")
    operator = store.add("alice", Role.OPERATOR, "alice-pin")
    audit = AuditLog(tmp_path / "audit.log")
    findings = policy.evaluate(_bundle(sequence=3), [], now=NOW)
    assert _codes(findings) == ["not-enough-signers", "rollback"]
    with pytest.raises(StationError, match="may not override"):
        policy.override(findings, admin=operator, reason="x", digest="d", audit=audit)
    kept = policy.override(findings, admin=admin, reason="restore v3", digest="d", audit=audit)
    assert _codes(kept) == ["not-enough-signers"]  # only rollback can be overridden
    [record] = audit.records()
    assert record["event"] == "policy-override" and record["actor"] == "root"
    assert record["overridden"][0]["code"] == "rollback"


def test_the_rollback_mark_only_grows(tmp_path: Path) -> None:
    store = SequenceStore(tmp_path / "sequence.json")
    assert store.record("prod", 5, "sha256:five") == 5
    assert store.record("prod", 3, "sha256:three") == 5  # an override's import of 3
    assert store.record("test", 1, "sha256:one") == 1
    assert store.load() == {"prod": 5, "test": 1}
    channels = json.loads((tmp_path / "sequence.json").read_text())["channels"]
    assert channels["prod"]["digest"] == "sha256:five"
    assert store.record("prod", 6, "sha256:six") == 6
    assert store.load()["prod"] == 6


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[policy]\nrequired_signers = 0\n", r"\] required_signers: expected an integer >="),
        ("[policy]\nrequire_signers = 2\n", r"unknown key `require_signers` in \[policy\]"),
        ('[policy]\nmax_severity = "BAD"\n', "max_severity"),
        ('[policy]\nallowed_references = "registry/"\n', "allowed_references"),
        ('[policy.keys.alice]\nexpires = "soon"\n', "not a date"),
        ("[policy.keys.alice]\nrevoked = 1\n", r"alice\] revoked: expected true or false"),
        ("[policy.keys.alice]\nimage = []\n", r"unknown key `image` in \[policy.keys.alice\]"),
    ],
)
def test_invalid_policy_is_an_error_at_load(tmp_path: Path, text: str, words: str) -> None:
    with pytest.raises(StationError, match=words):
        _policy(tmp_path, text)


def test_damaged_sequence_file_fails_closed(tmp_path: Path) -> None:
    policy = _policy(tmp_path, "[policy]\nrollback_protection = true\n")
    (tmp_path / "sequence.json").write_text("{not json")
    with pytest.raises(StationError, match="sequence"):
        policy.evaluate(_bundle(), [_sig("alice")], now=NOW)


def test_policy_rejects_a_real_bundle_through_verification(
    tmp_path: Path, signer: Signer
) -> None:
    """The policy plugs into verify_bundle: same real bundle, two verdicts."""
    payload = tmp_path / "notes.txt"
    payload.write_bytes(b"release notes\n")
    root = tmp_path / "media"
    create_bundle(root, secret_key=signer.secret, files=[payload], name="ops", sequence=3)
    bundle = open_bundle(root)
    trust = TrustStore.load(signer.trust)
    home = tmp_path / "home"
    home.mkdir()
    relaxed = _policy(home, "[policy]\nrequired_signers = 1\n")
    assert verify_bundle(bundle, trust, policy=relaxed).accepted
    strict = _policy(home, "[policy]\nrequired_signers = 2\n")
    result = verify_bundle(bundle, trust, policy=strict)
    assert not result.accepted
    assert "not-enough-signers" in [p.code for p in result.problems]
    json.dumps(result.to_json())  # the finding travels to the CLI's JSON unchanged


def test_size_rule_uses_staged_sizes_for_a_sha256sums_bundle(
    tmp_path: Path, signer: Signer
) -> None:
    from tests.builders import make_sums_bundle

    root = make_sums_bundle(tmp_path / "media", {"a.bin": b"x" * 600, "b.bin": b"y" * 600},
                            signer)
    bundle = open_bundle(root)
    assert all(entry.size is None for entry in bundle.entries)  # SHA256SUMS says no sizes
    home = tmp_path / "home"
    home.mkdir()
    trust = TrustStore.load(signer.trust)
    tight = _policy(home, "[policy]\nmax_bundle_bytes = 1000\n")
    assert tight.evaluate(bundle, [_sig("alice")], now=NOW) == []  # sizes unknown yet
    result = verify_bundle(bundle, trust, staging_root=home / "staging", policy=tight)
    assert not result.accepted and result.staged is None
    [finding] = result.problems
    assert finding.code == "bundle-too-large" and "1200 bytes" in finding.message
    roomy = _policy(home, "[policy]\nmax_bundle_bytes = 1200\n")
    assert verify_bundle(bundle, trust, staging_root=home / "staging", policy=roomy).accepted
