"""cosign signatures attached to images: who signed each image, what the policy then says,
and that verified signatures travel into the store while unverified ones stay behind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from station.bundle import open_bundle
from station.cli.render import render_verification
from station.config import StationConfig
from station.importing.store import StoreTarget
from station.publish.imagebuild import build_oci_layout
from station.verify import verify_bundle
from station.verify.policy import Policy
from station.verify.trust import TrustStore
from tests.importing_builders import sign_media
from tests.signing_builders import attach_cosign_signature, cosign_key, payload

APP = "registry.example.org/acme/app:1.0"
REPO = "registry.example.org/acme/app"
REQUIRE = """
[policy.images."registry.example.org/acme/"]
require_signature = ["vendor"]
"""


def _media(tmp_path: Path) -> tuple[Path, str]:
    media = tmp_path / "media"
    image = build_oci_layout(media / "app", APP, {"srv/app": b"app 1.0\n"})
    return media, image.manifest_digest


def _policy(tmp_path: Path, text: str = "") -> Policy:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    (home / "station.toml").write_text(text)
    return Policy.from_config(StationConfig.load(home))


def _verify(media: Path, trust_keys: Path, policy: Policy, staging: Path | None = None):  # type: ignore[no-untyped-def]
    trust = sign_media(media)
    for key in trust_keys.glob("*"):
        (trust / key.name).write_bytes(key.read_bytes())
    return verify_bundle(open_bundle(media), TrustStore.load(trust), policy,
                         staging_root=staging)


def test_signed_image_names_its_signer_and_the_signature_lands_in_the_store(
    tmp_path: Path,
) -> None:
    media, digest = _media(tmp_path)
    keys = tmp_path / "keys"
    signature = attach_cosign_signature(media / "app", digest, REPO, cosign_key(keys))
    staging = tmp_path / "staging"
    staging.mkdir()

    result = _verify(media, keys, _policy(tmp_path, REQUIRE), staging)

    assert result.verdict == "accepted", result.problems
    (check,) = result.image_signatures
    assert (check.valid, check.signer, check.image, check.artifact) == (
        True, "vendor", digest, signature)
    assert check.to_json()["signer"] == "vendor"
    assert json.loads(json.dumps(result.to_json()))["image_signatures"][0]["valid"] is True
    text = render_verification(open_bundle(media), result)
    assert f"image {APP}: signed by key vendor" in text
    assert result.staged is not None
    (staged_signature,) = result.staged.signatures
    sig_tag = f"{REPO}:sha256-{digest.removeprefix('sha256:')}.sig"
    assert staged_signature.references == (sig_tag,)

    store = tmp_path / "store"
    target = StoreTarget(store, tmp_path / "home")
    target.run(target.plan(result.staged))
    index = json.loads((store / "index.json").read_text())
    named = {m["annotations"]["org.opencontainers.image.ref.name"]: m["digest"]
             for m in index["manifests"]}
    assert named == {APP: digest, sig_tag: signature}
    blob = store / "blobs" / "sha256" / signature.removeprefix("sha256:")
    layers = json.loads(blob.read_text())["layers"]
    assert layers[0]["annotations"]["dev.cosignproject.cosign/signature"]


def test_unknown_key_is_a_warning_without_a_rule_and_a_rejection_with_one(
    tmp_path: Path,
) -> None:
    media, _ = _media(tmp_path)
    keys = tmp_path / "keys"
    cosign_key(keys)  # trusted, but not the one that signed
    attach_cosign_signature(media / "app", _media_digest(media), REPO, cosign_key())
    staging = tmp_path / "staging"
    staging.mkdir()

    lenient = _verify(media, keys, _policy(tmp_path), staging)
    assert lenient.verdict == "accepted"
    assert [w.code for w in lenient.warnings] == ["image-signature-invalid"]
    assert "no trusted cosign key verifies it" in lenient.warnings[0].message
    assert lenient.staged is not None and lenient.staged.signatures == ()

    strict = _verify(media, keys, _policy(tmp_path, REQUIRE))
    assert strict.verdict == "rejected"
    assert [p.code for p in strict.problems] == ["image-signature-required"]
    assert "must be signed by vendor" in strict.problems[0].message


def _media_digest(media: Path) -> str:
    index = json.loads((media / "app" / "index.json").read_text())
    return str(index["manifests"][0]["digest"])


def test_unsigned_image_under_a_rule_is_rejected(tmp_path: Path) -> None:
    media, _ = _media(tmp_path)
    keys = tmp_path / "keys"
    cosign_key(keys)
    result = _verify(media, keys, _policy(tmp_path, REQUIRE))
    assert [p.code for p in result.problems] == ["image-signature-required"]
    assert "found: no signature" in result.problems[0].message


@pytest.mark.parametrize("attack", ["other-payload", "other-image"])
def test_a_signature_over_other_bytes_never_counts(tmp_path: Path, attack: str) -> None:
    media, digest = _media(tmp_path)
    keys = tmp_path / "keys"
    key = cosign_key(keys)
    other = "sha256:" + "ab" * 32
    if attack == "other-payload":  # the signature covers a payload for another image
        attach_cosign_signature(media / "app", digest, REPO, key,
                                signed_payload=payload(other, REPO))
    else:  # a genuine signature of another image, attached to this one
        build_oci_layout(media / "app", "registry.example.org/acme/other:2", {"x": b"x"})
        attach_cosign_signature(media / "app", other, REPO, key)
    result = _verify(media, keys, _policy(tmp_path, REQUIRE))
    assert result.verdict == "rejected"
    assert "image-signature-required" in {p.code for p in result.problems}
    assert not any(check.valid for check in result.image_signatures)


def test_keyless_cosign_signature_is_reported_as_not_verifiable_offline(
    tmp_path: Path,
) -> None:
    media, digest = _media(tmp_path)
    keys = tmp_path / "keys"
    cosign_key(keys)
    attach_cosign_signature(media / "app", digest, REPO, cosign_key(),
                            extra_annotations={"dev.sigstore.cosign/certificate": "PEM"})
    result = _verify(media, keys, _policy(tmp_path))
    assert result.verdict == "accepted"
    assert "cannot be verified offline" in result.warnings[0].message


def test_policy_tables_are_checked(tmp_path: Path) -> None:
    from station.errors import StationError

    with pytest.raises(StationError, match=r"no \[policy\.identities\.ci\] table"):
        _policy(tmp_path, REQUIRE.replace('"vendor"', '"identity:ci"'))
    with pytest.raises(StationError, match="require_signatures"):
        _policy(tmp_path, REQUIRE + "require_signatures = []\n")
