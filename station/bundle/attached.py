"""Signatures that travel beside images inside a layout: recognised, parsed, never run.

Two forms are read, as their tools write them into OCI layouts and registries:

- **cosign** (`cosign sign`, `cosign save`, Zarf, Hauler): an image manifest tagged
  `sha256-<hex>.sig` whose layers are `application/vnd.dev.cosign.simplesigning.v1+json`
  payloads, each with the base64 signature in the annotation
  `dev.cosignproject.cosign/signature` (and, when keyless, `dev.sigstore.cosign/certificate`,
  `.../chain`, `.../bundle`). A payload is the "simple signing" JSON naming the signed
  manifest: `{"critical": {"identity": {"docker-reference": …}, "image":
  {"docker-manifest-digest": "sha256:…"}, "type": "cosign container image signature"}, …}`.
- **Sigstore bundle referrers** (`cosign sign --new-bundle-format`, OCI 1.1): a manifest
  with `artifactType` `application/vnd.dev.sigstore.bundle.v0.3+json`, a `subject` naming
  the signed manifest, and one layer holding the bundle JSON.

Reading one only finds what it claims; whether it holds is `station.verify.image_signatures`'
business. A malformed signature artifact is noted and skipped: it never crosses, and an image
whose policy requires a signature is then refused for lacking a valid one.
"""

from __future__ import annotations

from typing import Any

from station.bundle import strict_json
from station.bundle.model import AttachedSignature, Descriptor, SignatureKind
from station.bundle.oci_json import (
    REF_NAME,
    JsonSource,
    blob_path,
    check_digest,
    get_list,
    parse_descriptor,
    read_blob,
    value,
)
from station.errors import BundleError

COSIGN_PAYLOAD = "application/vnd.dev.cosign.simplesigning.v1+json"
COSIGN_SIGNATURE = "dev.cosignproject.cosign/signature"
COSIGN_CERTIFICATE = "dev.sigstore.cosign/certificate"
COSIGN_TYPE = "cosign container image signature"
SIGSTORE_BUNDLE_TYPES = frozenset({
    "application/vnd.dev.sigstore.bundle.v0.3+json",
    "application/vnd.dev.sigstore.bundle+json;version=0.3",
    "application/vnd.dev.sigstore.bundle+json;version=0.2",
})
MAX_SIGNATURE_BLOB = 1024 * 1024


def _tags(descriptor: Descriptor) -> tuple[str, ...]:
    name = descriptor.annotations.get(REF_NAME)
    return (name,) if name else ()


def signature_kind(manifest: dict[str, Any], label: str, what: str) -> SignatureKind | None:
    """Which signature form a manifest document is, if any (by its own fields)."""
    artifact_type = value(label, manifest, "artifactType", what)
    config = value(label, manifest, "config", what)
    config_type = config.get("mediaType") if isinstance(config, dict) else None
    if artifact_type in SIGSTORE_BUNDLE_TYPES or config_type in SIGSTORE_BUNDLE_TYPES:
        return SignatureKind.SIGSTORE_BUNDLE
    layers = value(label, manifest, "layers", what)
    if isinstance(layers, list) and layers and all(
        isinstance(layer, dict) and layer.get("mediaType") == COSIGN_PAYLOAD for layer in layers
    ):
        return SignatureKind.COSIGN
    return None


def read_signature(
    source: JsonSource, descriptor: Descriptor, manifest: dict[str, Any], kind: SignatureKind
) -> AttachedSignature:
    """Parse a signature artifact whose manifest was read and checked against `descriptor`.

    Raises BundleError with the reason when it is malformed (the caller notes and skips it).
    """
    label = source.label
    what = f"signature {descriptor.digest}"
    config = parse_descriptor(label, value(label, manifest, "config", what), f"{what} config")
    layers = tuple(
        parse_descriptor(label, raw, f"{what} layers[{i}]")
        for i, raw in enumerate(get_list(label, manifest, "layers", what))
    )
    for blob in (config, *layers):
        if source.file_size(blob_path(blob.digest), f"{what} blob {blob.digest}") != blob.size:
            raise BundleError(f"{label}: {what}: blob {blob.digest} is not {blob.size} bytes")
    artifact_type = value(label, manifest, "artifactType", what)
    if kind is SignatureKind.COSIGN:
        subject = _cosign_subject(source, layers, what)
    else:
        raw_subject = value(label, manifest, "subject", what)
        if raw_subject is None:
            raise BundleError(f"{label}: {what} names no subject (the image it signs)")
        subject = parse_descriptor(label, raw_subject, f"{what} subject").digest
        if len(layers) != 1 or layers[0].media_type not in SIGSTORE_BUNDLE_TYPES:
            raise BundleError(f"{label}: {what} must hold exactly one Sigstore bundle layer")
        read_blob(source, layers[0], "Sigstore bundle", MAX_SIGNATURE_BLOB)
    return AttachedSignature(
        kind=kind, manifest=descriptor, subject=subject, config=config, payloads=layers,
        tags=_tags(descriptor),
        artifact_type=artifact_type if isinstance(artifact_type, str) else "",
    )


def _cosign_subject(source: JsonSource, layers: tuple[Descriptor, ...], what: str) -> str:
    """The one manifest digest every payload names."""
    label = source.label
    subjects: set[str] = set()
    for layer in layers:
        if COSIGN_SIGNATURE not in layer.annotations:
            raise BundleError(f"{label}: {what}: payload {layer.digest} carries no signature "
                              f"annotation ({COSIGN_SIGNATURE})")
        payload = read_blob(source, layer, "signature payload", MAX_SIGNATURE_BLOB)
        subjects.add(payload_subject(label, payload, f"{what} payload {layer.digest}"))
    if len(subjects) != 1:
        raise BundleError(f"{label}: {what}: its payloads name different images")
    return subjects.pop()


def payload_subject(label: str, payload: bytes, what: str) -> str:
    """The manifest digest a simple signing payload names (its `critical` part)."""
    document = strict_json.load_object(payload, label=label, what=what)
    critical = value(label, document, "critical", what)
    if not isinstance(critical, dict):
        raise BundleError(f"{label}: {what} has no 'critical' object")
    kind = value(label, critical, "type", f"{what} critical")
    if kind != COSIGN_TYPE:
        raise BundleError(f"{label}: {what} is of type {kind!r}, not {COSIGN_TYPE!r}")
    image = value(label, critical, "image", f"{what} critical")
    if not isinstance(image, dict):
        raise BundleError(f"{label}: {what} names no image")
    return check_digest(label, value(label, image, "docker-manifest-digest", what),
                        f"{what} docker-manifest-digest")


def docker_reference(label: str, payload: bytes) -> str | None:
    """The repository a cosign payload was signed for (shown to operators, not trusted)."""
    try:
        document = strict_json.load_object(payload, label=label, what="payload")
        identity = document["critical"]["identity"]["docker-reference"]
    except (BundleError, KeyError, TypeError):
        return None
    return identity if isinstance(identity, str) else None
