"""Sigstore bundles verified fully offline: a public keyless bundle (sigstore-python's own
test assets) against a trusted root kept in the trust store, with no network at all; a
key-signed bundle attached to an image as an OCI referrer, carried into the store under the
referrers tag."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path
from typing import Any

import pytest

from station.bundle import open_bundle
from station.config import IdentitySection, ImageRuleSection, StationConfig
from station.importing.store import StoreTarget
from station.publish.imagebuild import build_oci_layout
from station.verify import verify_bundle
from station.verify.image_policy import ImageSignaturePolicy
from station.verify.image_signatures import SignatureInvalid, check_sigstore_bundle
from station.verify.policy import Policy
from station.verify.trust import TrustStore
from tests.importing_builders import sign_media
from tests.signing_builders import attach_sigstore_referrer, cosign_key, key_signed_sigstore_bundle

FIXTURES = Path(__file__).parent / "fixtures" / "sigstore"
SIGNER = ("https://github.com/login/oauth", "william@yossarian.net")


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """No route out: every connection attempt is recorded and refused, and proxies point at
    a port nothing listens on."""
    attempts: list[Any] = []

    def refuse(self: socket.socket, address: Any) -> None:
        attempts.append(address)
        raise OSError("network is unreachable (test)")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    return attempts


@pytest.fixture
def trust(tmp_path: Path) -> TrustStore:
    folder = tmp_path / "trust"
    folder.mkdir()
    shutil.copy(FIXTURES / "staging.trusted_root.json", folder / "sigstage.trusted_root.json")
    return TrustStore.load(folder)


def test_public_keyless_bundle_verifies_offline_and_names_its_signer(
    trust: TrustStore, offline: list[Any]
) -> None:
    assert [(k.name, k.scheme) for k in trust.keys] == [("sigstage", "sigstore-root")]
    artifact = (FIXTURES / "bundle_v3.txt").read_bytes()
    bundle = (FIXTURES / "bundle_v3.txt.sigstore").read_bytes()

    check = check_sigstore_bundle(bundle, artifact, trust)

    assert check.valid and check.signer is None
    assert check.identity is not None
    assert (check.identity.issuer, check.identity.subject) == SIGNER
    assert "trusted root sigstage" in check.reason
    assert offline == []  # nothing was even attempted

    policy = ImageSignaturePolicy.from_sections(
        {"registry.example.org/": ImageRuleSection(require_signature=("identity:william",))},
        {"william": IdentitySection(issuer=SIGNER[0], subject=SIGNER[1]),
         "other": IdentitySection(issuer=SIGNER[0], subject="mallory@example.org")},
        "[policy]")
    assert policy.satisfies(check, "identity:william")
    assert not policy.satisfies(check, "identity:other")


def test_keyless_bundle_over_other_bytes_or_without_its_root_is_refused(
    tmp_path: Path, trust: TrustStore, offline: list[Any]
) -> None:
    bundle = (FIXTURES / "bundle_v3.txt.sigstore").read_bytes()
    with pytest.raises(SignatureInvalid, match="does not verify"):
        check_sigstore_bundle(bundle, b"another manifest\n", trust)
    empty = tmp_path / "empty-trust"
    empty.mkdir()
    with pytest.raises(SignatureInvalid, match="no Sigstore trusted root"):
        check_sigstore_bundle(bundle, (FIXTURES / "bundle_v3.txt").read_bytes(),
                              TrustStore.load(empty))
    dsse = (FIXTURES / "a.dsse.staging-rekor-v2.txt.sigstore.json").read_bytes()
    with pytest.raises(SignatureInvalid, match="SCT"):
        check_sigstore_bundle(dsse, b"", trust)
    assert offline == []


def test_damaged_trusted_root_is_not_trusted(tmp_path: Path) -> None:
    folder = tmp_path / "trust"
    folder.mkdir()
    (folder / "broken.trusted_root.json").write_text('{"mediaType": "nonsense"}')
    store = TrustStore.load(folder)
    assert store.keys == ()
    assert "not a Sigstore trusted root" in store.problems[0].message


def test_key_signed_bundle_referrer_crosses_under_the_referrers_tag(tmp_path: Path) -> None:
    media = tmp_path / "media"
    app = "registry.example.org/acme/app:2.0"
    image = build_oci_layout(media / "app", app, {"srv/app": b"2.0\n"})
    keys = tmp_path / "keys"
    key = cosign_key(keys)
    manifest = (media / "app" / "blobs" / "sha256" /
                image.manifest_digest.removeprefix("sha256:")).read_bytes()
    referrer = attach_sigstore_referrer(media / "app", image.manifest_digest,
                                        key_signed_sigstore_bundle(manifest, key))
    trust = sign_media(media)
    shutil.copy(keys / "vendor.cosign.pub", trust / "vendor.cosign.pub")
    home = tmp_path / "home"
    home.mkdir()
    (home / "station.toml").write_text(
        '[policy.images."registry.example.org/acme/"]\nrequire_signature = ["vendor"]\n')
    staging = tmp_path / "staging"
    staging.mkdir()

    result = verify_bundle(open_bundle(media), TrustStore.load(trust),
                           Policy.from_config(StationConfig.load(home)), staging_root=staging)

    assert result.verdict == "accepted", result.problems
    (check,) = result.image_signatures
    assert (check.kind, check.signer, check.artifact) == ("sigstore-bundle", "vendor", referrer)
    assert result.staged is not None
    store = tmp_path / "store"
    target = StoreTarget(store, home)
    target.run(target.plan(result.staged))
    index = json.loads((store / "index.json").read_text())
    tag = f"registry.example.org/acme/app:sha256-{image.manifest_digest.removeprefix('sha256:')}"
    (entry,) = [m for m in index["manifests"]
                if m["annotations"]["org.opencontainers.image.ref.name"] == tag]
    listed = json.loads((store / "blobs" / "sha256" /
                         entry["digest"].removeprefix("sha256:")).read_text())
    assert listed["manifests"][0]["digest"] == referrer
    assert listed["manifests"][0]["artifactType"] == "application/vnd.dev.sigstore.bundle.v0.3+json"
