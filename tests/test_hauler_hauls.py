"""Hauler hauls (`hauler store save`: a zstd tar of an OCI layout content store, hauler v1)
crossing inside a signed bundle: images verified and imported, the cosign signatures hauler
keeps beside them checked, Helm charts and files named and not imported, and a haul whose
index names a missing blob refused.

The store is assembled as hauler writes it (hauler `pkg/consts`: chart config
`application/vnd.cncf.helm.config.v1+json`, file config
`application/vnd.content.hauler.file.local.config.v1+json`; entries named by
`io.containerd.image.name` with a `kind` annotation)."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Any

from station.bundle import open_bundle
from station.bundle.compression import _zstd
from station.publish.imagebuild import build_oci_layout
from station.verify import verify_bundle
from station.verify.policy import Policy
from station.verify.trust import TrustStore
from tests.importing_builders import sign_media
from tests.signing_builders import attach_cosign_signature, cosign_key

IMAGE = "index.docker.io/library/busybox:stable"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def _blob(layout: Path, data: bytes) -> dict[str, Any]:
    digest = hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256" / digest).write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def _artifact(layout: Path, config_type: str, layer_type: str, name: str, kind: str) -> None:
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": config_type, **_blob(layout, b"{}")},
        "layers": [{"mediaType": layer_type, **_blob(layout, name.encode() * 20)}],
    }).encode()
    index = json.loads((layout / "index.json").read_text())
    index["manifests"].append({"mediaType": OCI_MANIFEST, **_blob(layout, manifest),
                               "annotations": {"io.containerd.image.name": name,
                                               "kind": kind}})
    (layout / "index.json").write_text(json.dumps(index))


def _haul(tmp_path: Path, media: Path) -> tuple[Path, str]:
    store = tmp_path / "store"
    image = build_oci_layout(store, IMAGE, {"bin/busybox": b"busybox\n"})
    _artifact(store, "application/vnd.cncf.helm.config.v1+json",
              "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
              "hauler/podinfo:6.4.0", "dev.hauler/chart")
    _artifact(store, "application/vnd.content.hauler.file.local.config.v1+json",
              "application/vnd.content.hauler.file.layer.v1", "hauler/motd:latest",
              "dev.hauler/file")
    keys = tmp_path / "keys"
    attach_cosign_signature(store, image.manifest_digest, "index.docker.io/library/busybox",
                            cosign_key(keys))
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for path in sorted(store.rglob("*")):
            if path.is_file():
                tar.add(path, arcname=path.relative_to(store).as_posix())
    media.mkdir(parents=True)
    (media / "haul.tar.zst").write_bytes(_zstd.compress(out.getvalue()))
    return keys, image.manifest_digest


def test_haul_in_a_signed_bundle_crosses_with_its_signature(tmp_path: Path) -> None:
    media = tmp_path / "media"
    keys, digest = _haul(tmp_path, media)
    trust = sign_media(media)
    (trust / "vendor.cosign.pub").write_bytes((keys / "vendor.cosign.pub").read_bytes())
    staging = tmp_path / "staging"
    staging.mkdir()

    bundle = open_bundle(media)
    notes = " ".join(w.message for w in bundle.warnings)
    assert "a Helm chart hauler/podinfo:6.4.0" in notes and "a file hauler/motd:latest" in notes
    result = verify_bundle(bundle, TrustStore.load(trust), Policy(), staging_root=staging)

    assert result.verdict == "accepted", result.problems
    assert [i.references for i in result.images] == [("docker.io/library/busybox:stable",)]
    (check,) = result.image_signatures
    assert check.valid and check.signer == "vendor" and check.image == digest


def test_haul_whose_index_names_a_missing_blob_is_refused(tmp_path: Path) -> None:
    media = tmp_path / "media"
    _haul(tmp_path, media)
    data = _zstd.decompress((media / "haul.tar.zst").read_bytes())

    def member(name: str) -> Any:
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            found = tar.extractfile(name)
            assert found is not None
            return json.loads(found.read())

    top = member("index.json")["manifests"][0]["digest"].removeprefix("sha256:")
    layer = member(f"blobs/sha256/{top}")["layers"][0]["digest"].removeprefix("sha256:")
    out = io.BytesIO()  # the same haul without the image's layer blob
    with tarfile.open(fileobj=io.BytesIO(data)) as source, \
            tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as target:
        for entry in source.getmembers():
            if entry.name != f"blobs/sha256/{layer}":
                target.addfile(entry, source.extractfile(entry))
    (media / "haul.tar.zst").write_bytes(_zstd.compress(out.getvalue()))
    trust = sign_media(media)

    result = verify_bundle(open_bundle(media), TrustStore.load(trust), Policy())

    assert result.verdict == "rejected"
    assert "unreadable-image" in {p.code for p in result.problems}
    assert any("missing" in p.message for p in result.problems)
