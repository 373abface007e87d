"""Image signatures made in tests exactly as their tools write them into OCI layouts.

cosign (`cosign sign --key`, then `cosign save`): a manifest tagged `sha256-<hex>.sig`
whose layer is the simple signing payload and whose layer annotation
`dev.cosignproject.cosign/signature` is the base64 ECDSA P-256 / SHA-256 signature over
that payload's bytes (sigstore/cosign `pkg/oci/static`, `pkg/cosign/payload`). Keys are
made with `cryptography`, as `cosign generate-key-pair` would (PEM SubjectPublicKeyInfo).
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

REF_NAME = "org.opencontainers.image.ref.name"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
SIMPLESIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"


def cosign_key(trust: Path | None = None, name: str = "vendor") -> ec.EllipticCurvePrivateKey:
    """A P-256 key; with `trust`, its public half is written there as NAME.cosign.pub."""
    key = ec.generate_private_key(ec.SECP256R1())
    if trust is not None:
        trust.mkdir(parents=True, exist_ok=True)
        pem = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        (trust / f"{name}.cosign.pub").write_bytes(pem)
    return key


def _blob(layout: Path, data: bytes) -> dict[str, Any]:
    digest = hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256" / digest).write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def payload(manifest_digest: str, repository: str) -> bytes:
    return json.dumps({
        "critical": {
            "identity": {"docker-reference": repository},
            "image": {"docker-manifest-digest": manifest_digest},
            "type": "cosign container image signature",
        },
        "optional": None,
    }, separators=(",", ":")).encode()


def attach_cosign_signature(
    layout: Path,
    manifest_digest: str,
    repository: str,
    key: ec.EllipticCurvePrivateKey,
    *,
    signed_payload: bytes | None = None,
    extra_annotations: dict[str, str] | None = None,
) -> str:
    """Add `REPO:sha256-<hex>.sig` to the layout; returns the signature manifest's digest.

    `signed_payload` is what the signature covers (default: the honest payload)."""
    body = payload(manifest_digest, repository)
    signature = base64.b64encode(
        key.sign(signed_payload or body, ec.ECDSA(hashes.SHA256()))).decode()
    layer = {"mediaType": SIMPLESIGNING, **_blob(layout, body),
             "annotations": {"dev.cosignproject.cosign/signature": signature,
                             **(extra_annotations or {})}}
    config = json.dumps({"architecture": "", "created": "0001-01-01T00:00:00Z",
                         "history": [{"created": "0001-01-01T00:00:00Z"}], "os": "",
                         "rootfs": {"type": "layers",
                                    "diff_ids": [layer["digest"]]},
                         "config": {}}).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   **_blob(layout, config)},
        "layers": [layer],
    }).encode()
    described = _blob(layout, manifest)
    index_path = layout / "index.json"
    index = json.loads(index_path.read_text())
    tag = f"{repository}:sha256-{manifest_digest.removeprefix('sha256:')}.sig"
    index["manifests"].append({"mediaType": OCI_MANIFEST, **described,
                               "annotations": {REF_NAME: tag}})
    index_path.write_text(json.dumps(index))
    return str(described["digest"])


SIGSTORE_BUNDLE = "application/vnd.dev.sigstore.bundle.v0.3+json"
EMPTY = "application/vnd.oci.empty.v1+json"


def key_signed_sigstore_bundle(manifest: bytes, key: ec.EllipticCurvePrivateKey) -> bytes:
    """A v0.3 Sigstore bundle signed with a key (publicKey hint), as `cosign sign
    --new-bundle-format --key` writes one: a message signature over the manifest's bytes."""
    signature = key.sign(manifest, ec.ECDSA(hashes.SHA256()))
    return json.dumps({
        "mediaType": SIGSTORE_BUNDLE,
        "verificationMaterial": {"publicKey": {"hint": "vendor"}, "tlogEntries": []},
        "messageSignature": {
            "messageDigest": {"algorithm": "SHA2_256", "digest": base64.b64encode(
                hashlib.sha256(manifest).digest()).decode()},
            "signature": base64.b64encode(signature).decode(),
        },
    }).encode()


def attach_sigstore_referrer(layout: Path, manifest_digest: str, bundle: bytes) -> str:
    """Add an OCI 1.1 referrer (artifactType Sigstore bundle, subject = the image) to the
    layout's index.json, as OCI layouts list referrers; returns its manifest digest."""
    manifest_path = layout / "blobs" / "sha256" / manifest_digest.removeprefix("sha256:")
    subject = {"mediaType": OCI_MANIFEST, "digest": manifest_digest,
               "size": manifest_path.stat().st_size}
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": SIGSTORE_BUNDLE,
        "config": {"mediaType": EMPTY, **_blob(layout, b"{}")},
        "layers": [{"mediaType": SIGSTORE_BUNDLE, **_blob(layout, bundle)}],
        "subject": subject,
    }).encode()
    described = _blob(layout, manifest)
    index_path = layout / "index.json"
    index = json.loads(index_path.read_text())
    index["manifests"].append({"mediaType": OCI_MANIFEST, **described,
                               "artifactType": SIGSTORE_BUNDLE})
    index_path.write_text(json.dumps(index))
    return str(described["digest"])
