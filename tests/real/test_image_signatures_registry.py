"""Verified image signatures travel into a real registry beside their image: the cosign
`.sig` tag and the OCI referrers tag read back byte for byte, where cosign and admission
controllers look for them."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from station.bundle import open_bundle
from station.config import RegistryTargetSection
from station.importing.registry import RegistrySettings, RegistryTarget
from station.publish.imagebuild import build_oci_layout
from station.verify import verify_bundle
from station.verify.policy import Policy
from station.verify.trust import TrustStore
from tests.importing_builders import sign_media
from tests.real.servers import Registry
from tests.signing_builders import (
    attach_cosign_signature,
    attach_sigstore_referrer,
    cosign_key,
    key_signed_sigstore_bundle,
)

pytestmark = [pytest.mark.real, pytest.mark.usefixtures("need_skopeo")]
APP = "registry.example.org/acme/app:3.1"


def _raw(name: str) -> bytes:
    return subprocess.run(
        ["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{name}"],
        check=True, capture_output=True,
    ).stdout


def test_signatures_are_pushed_beside_the_image(registry: Registry, tmp_path: Path) -> None:
    media = tmp_path / "media"
    image = build_oci_layout(media / "app", APP, {"srv/app": b"3.1\n"})
    keys = tmp_path / "keys"
    key = cosign_key(keys)
    layout = media / "app"
    manifest = (layout / "blobs" / "sha256" /
                image.manifest_digest.removeprefix("sha256:")).read_bytes()
    cosign_sig = attach_cosign_signature(layout, image.manifest_digest,
                                         "registry.example.org/acme/app", key)
    referrer = attach_sigstore_referrer(layout, image.manifest_digest,
                                        key_signed_sigstore_bundle(manifest, key))
    trust = sign_media(media)
    shutil.copy(keys / "vendor.cosign.pub", trust / "vendor.cosign.pub")
    staging = tmp_path / "staging"
    staging.mkdir()
    result = verify_bundle(open_bundle(media), TrustStore.load(trust), Policy(),
                           staging_root=staging)
    assert result.verdict == "accepted", result.problems
    assert result.staged is not None and len(result.staged.signatures) == 2

    target = RegistryTarget(RegistrySettings.from_config(registry.url, RegistryTargetSection()),
                            work_dir=tmp_path / "work", home=tmp_path / "home")
    receipt = target.run(target.plan(result.staged))

    pushed = {ref: entry.manifest_digest for entry in receipt.images for ref in entry.references}
    hexdigest = image.manifest_digest.removeprefix("sha256:")
    (sig_tag,) = [ref for ref in pushed if ref.endswith(f":sha256-{hexdigest}.sig")]
    assert "sha256:" + hashlib.sha256(_raw(sig_tag)).hexdigest() == cosign_sig
    # The Sigstore bundle goes by its digest, byte for byte, beside the image it names as its
    # subject (an OCI 1.1 registry lists it as a referrer). The fallback referrers tag is not
    # written: Debian's skopeo 1.9 cannot push an index unchanged.
    (by_digest,) = [ref for ref in pushed if ref.endswith(f"@{referrer}")]
    assert by_digest.startswith(f"{registry.address}/acme/app@")
    raw = _raw(by_digest)
    assert "sha256:" + hashlib.sha256(raw).hexdigest() == referrer
    assert json.loads(raw)["subject"]["digest"] == image.manifest_digest
    assert not any(ref.endswith(f":sha256-{hexdigest}") for ref in pushed)
