"""Signatures attached to images, verified offline: who signed each image, if anyone.

Every signature artifact an item carries (`station.bundle.attached`) is checked against the
bytes verification hashed, and gives one `ImageSignatureCheck` per signature:

- a cosign `.sig` payload: the base64 ECDSA signature in its annotation must verify over the
  payload's exact bytes with a trusted cosign key (`NAME.cosign.pub` / `NAME.pem`), and the
  payload must name the image's manifest digest. cosign checks a key-pair signature the same
  way with `--insecure-ignore-tlog`: the trust comes from the key, not from a log the
  station cannot reach. A keyless cosign signature (certificate + Rekor SET, no inclusion
  proof) cannot be verified offline and is reported as such;
- a Sigstore bundle: keyless (Fulcio certificate, Rekor inclusion proof and checkpoint) is
  verified by the `sigstore` library against each trusted root in the trust store
  (`NAME.trusted_root.json`), never fetching anything; the signer is then the certificate's
  identity (OIDC issuer and subject), which the policy names. A bundle carrying a public-key
  hint is verified with the trusted cosign keys (the library has no key mode). The signed
  content must be the image: an in-toto statement whose subject has the manifest's digest
  (DSSE), or a message signature over the manifest's bytes.

A check is `valid` only when all of that holds; whether a valid or missing signature
accepts or refuses the bundle is the policy's decision (`station.verify.image_policy`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from station.bundle import attached, strict_json
from station.bundle.members import Members
from station.bundle.model import AttachedSignature, Descriptor, Finding, Item, SignatureKind
from station.bundle.oci_json import OCI_INDEX, blob_path
from station.bundle.safety import describe_name
from station.errors import BundleError, StationError
from station.references import parse_reference
from station.verify import cosign
from station.verify.blobstore import BlobStore
from station.verify.staged import StagedImage
from station.verify.trust import TrustedKey, TrustStore

if TYPE_CHECKING:
    from cryptography import x509

SIGSTORE_ROOT = "sigstore-root"
IN_TOTO = "application/vnd.in-toto+json"
# Fulcio's certificate extensions naming the OIDC issuer (v2 is DER UTF8String, v1 raw).
_ISSUER_V2 = "1.3.6.1.4.1.57264.1.8"  # Fulcio's OIDs of the OIDC issuer (v2, then v1)
_ISSUER_V1 = "1.3.6.1.4.1.57264.1.1"


@dataclass(frozen=True)
class Identity:
    """A keyless signer: the OIDC issuer and the certificate's subject (e-mail or URI)."""

    issuer: str
    subject: str

    def __str__(self) -> str:
        return f"{self.subject} (issuer {self.issuer})"


@dataclass(frozen=True)
class ImageSignatureCheck:
    """The verdict on one signature attached to one image.

    `image` is the manifest digest the signature claims; `signer` the trust-store key name
    (key signatures) and `identity` the certificate identity (keyless), when it verified.
    """

    item: str
    image: str
    kind: str
    artifact: str
    valid: bool
    reason: str
    signer: str | None = None
    identity: Identity | None = None

    @property
    def who(self) -> str:
        """Who signed, in the operator's words."""
        if self.signer is not None:
            return f"key {self.signer}"
        if self.identity is not None:
            return str(self.identity)
        return "nobody the station trusts"

    def to_json(self) -> dict[str, object]:
        return {
            "item": self.item,
            "image": self.image,
            "kind": self.kind,
            "artifact": self.artifact,
            "valid": self.valid,
            "signer": self.signer,
            "identity": None if self.identity is None else {
                "issuer": self.identity.issuer, "subject": self.identity.subject},
            "reason": self.reason,
        }


class SignatureInvalid(StationError):
    """One signature does not hold; the message says why."""


def check_attached(
    items: Sequence[Item], members: Mapping[str, Members], trust: TrustStore
) -> list[ImageSignatureCheck]:
    """One check per attached signature (per cosign payload), in item order; never raises
    for a hostile artifact."""
    checks: list[ImageSignatureCheck] = []
    for item in items:
        source = members.get(item.path)
        if source is None:
            continue
        signed = {image.manifest_digest for image in item.images} | {
            group.top.digest for group in item.groups if group.top is not None}
        for signature in item.signatures:
            checks.extend(_check(item, source, signature, signed, trust))
    return checks


def _check(item: Item, source: Members, signature: AttachedSignature, signed: set[str],
           trust: TrustStore) -> list[ImageSignatureCheck]:
    base = ImageSignatureCheck(item.path, signature.subject, signature.kind.value,
                               signature.manifest.digest, False, "")
    if signature.subject not in signed:
        return [replace(base, reason=f"signs {signature.subject}, which is not an image of "
                        f"{describe_name(item.path)}; it is not imported")]
    payloads = signature.payloads if signature.kind is SignatureKind.COSIGN else (
        signature.payloads[0],)
    results = []
    for payload in payloads:
        try:
            data = source.read_small(blob_path(payload.digest), "signature payload")
            if signature.kind is SignatureKind.COSIGN:
                results.append(_cosign_payload(base, payload, data, trust, source.label))
            else:
                manifest = source.read_small(blob_path(signature.subject), "signed manifest")
                results.append(check_sigstore_bundle(data, manifest, trust, base))
        except (SignatureInvalid, BundleError) as exc:
            results.append(replace(base, reason=exc.message))
        except Exception as exc:  # a library's surprise must refuse, never accept or crash
            results.append(replace(base, reason=f"cannot be checked ({type(exc).__name__}: "
                                   f"{exc})"))
    return results


def signature_warnings(checks: Sequence[ImageSignatureCheck]) -> list[Finding]:
    """A warning per signature that does not hold (the policy refuses when it needed one)."""
    return [
        Finding("image-signature-invalid",
                f"{describe_name(check.item)}: the {check.kind} signature {check.artifact[:19]}… "
                f"of image {check.image[:19]}… does not hold: {check.reason}", check.item)
        for check in checks if not check.valid
    ]


# -- cosign simple signing --------------------------------------------------------------


def _cosign_payload(base: ImageSignatureCheck, layer: Descriptor, payload: bytes,
                    trust: TrustStore, label: str) -> ImageSignatureCheck:
    if attached.payload_subject(label, payload, "signature payload") != base.image:
        raise SignatureInvalid("the signed payload names another image than the one it is "
                               "attached to")
    signature = layer.annotations.get(attached.COSIGN_SIGNATURE, "").encode()
    reference = attached.docker_reference(label, payload)
    signed_for = f" for {describe_name(reference)}" if reference else ""
    for key in trust.of_scheme(cosign.SCHEME):
        if cosign.verify(payload, signature, key.data).valid:
            return replace(base, valid=True, signer=key.name,
                           reason=f"signed{signed_for} by {key.name} (cosign key "
                           f"{key.fingerprint})")
    if attached.COSIGN_CERTIFICATE in layer.annotations:
        raise SignatureInvalid("a keyless cosign signature (certificate and Rekor timestamp "
                               "without an inclusion proof) cannot be verified offline; ask "
                               "the vendor for a key signature or a Sigstore bundle")
    if not trust.of_scheme(cosign.SCHEME):
        raise SignatureInvalid("a cosign signature, but the trust store holds no cosign keys")
    raise SignatureInvalid("no trusted cosign key verifies it")


# -- Sigstore bundles -------------------------------------------------------------------


def check_sigstore_bundle(data: bytes, manifest: bytes, trust: TrustStore,
                          base: ImageSignatureCheck | None = None) -> ImageSignatureCheck:
    """Verify a Sigstore bundle over `manifest` (the signed image manifest's bytes), offline.

    Raises `SignatureInvalid` (a StationError) with the reason when it does not hold."""
    digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
    base = base or ImageSignatureCheck("", digest, SignatureKind.SIGSTORE_BUNDLE.value, "",
                                       False, "")
    try:
        document = strict_json.load_object(data, label="the Sigstore bundle", what="its JSON")
        material = document["verificationMaterial"]
    except (BundleError, KeyError) as exc:
        raise SignatureInvalid(f"not a Sigstore bundle ({type(exc).__name__})") from None
    if isinstance(material, dict) and "publicKey" in material:
        return _keyed_bundle(base, document, manifest, trust)
    roots = trust.of_scheme(SIGSTORE_ROOT)
    if not roots:
        raise SignatureInvalid("a keyless Sigstore bundle, but the trust store holds no Sigstore "
                       "trusted root (NAME.trusted_root.json)")
    from sigstore.errors import Error as SigstoreError
    from sigstore.models import Bundle

    try:
        bundle = Bundle.from_json(data)
    except SigstoreError as exc:
        raise SignatureInvalid(f"not a Sigstore bundle the station reads: {exc}") from None
    failures = []
    for root in roots:
        try:
            _verify_keyless(bundle, manifest, base.image, root)
        except SignatureInvalid as exc:
            failures.append(f"{root.name}: {exc.message}")
            continue
        identity = certificate_identity(bundle.signing_certificate)
        return replace(base, valid=True, identity=identity,
                       reason=f"signed by {identity}, certificate from trusted root "
                       f"{root.name}")
    raise SignatureInvalid("the Sigstore bundle does not verify: " + "; ".join(failures))


def _verify_keyless(bundle: Any, manifest: bytes, image: str, root: TrustedKey) -> None:
    from sigstore.errors import Error as SigstoreError
    from sigstore.models import TrustedRoot
    from sigstore.verify import Verifier
    from sigstore.verify.policy import UnsafeNoOp

    try:
        verifier = Verifier(trusted_root=TrustedRoot.from_file(str(root.path)))
        if bundle._dsse_envelope is not None:
            payload_type, payload = verifier.verify_dsse(bundle, UnsafeNoOp())
            _check_statement(payload_type, payload, image)
        else:
            # Identity is the policy's business (it compares issuer and subject itself).
            verifier.verify_artifact(manifest, bundle, UnsafeNoOp())
    except SigstoreError as exc:
        raise SignatureInvalid(str(exc)) from None


def _check_statement(payload_type: str, payload: bytes, image: str) -> None:
    """A DSSE payload must be an in-toto statement about the image's manifest."""
    if payload_type != IN_TOTO:
        raise SignatureInvalid(f"the signed envelope holds {payload_type!r}, not an in-toto "
                               "statement")
    try:
        statement = json.loads(payload)
        digests = [subject["digest"]["sha256"] for subject in statement["subject"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise SignatureInvalid(f"the signed statement is malformed ({type(exc).__name__})"
                               ) from None
    if image.removeprefix("sha256:") not in digests:
        raise SignatureInvalid("the signed statement is about another artifact than this image")


def _keyed_bundle(base: ImageSignatureCheck, document: dict[str, Any], manifest: bytes,
                  trust: TrustStore) -> ImageSignatureCheck:
    """A bundle signed with a key (no certificate): checked with each trusted cosign key."""
    try:
        if "dsseEnvelope" in document:
            envelope = document["dsseEnvelope"]
            payload = base64.b64decode(envelope["payload"], validate=True)
            payload_type = envelope["payloadType"]
            (entry,) = envelope["signatures"]
            signature = base64.b64decode(entry["sig"], validate=True)
            signed = _pae(payload_type, payload)
        else:
            message = document["messageSignature"]
            signature = base64.b64decode(message["signature"], validate=True)
            signed = manifest
            payload_type, payload = "", b""
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        raise SignatureInvalid(f"a malformed key-signed Sigstore bundle ({type(exc).__name__})"
                       ) from None
    for key in trust.of_scheme(cosign.SCHEME):
        try:
            public = cosign.load_public_key(key.data)
            public.verify(signature, signed, ec.ECDSA(hashes.SHA256()))
        except (InvalidSignature, cosign.CosignError):
            continue
        if payload_type:
            _check_statement(payload_type, payload, base.image)
        return replace(base, valid=True, signer=key.name,
                       reason=f"Sigstore bundle signed by {key.name} (cosign key "
                       f"{key.fingerprint})")
    raise SignatureInvalid("a key-signed Sigstore bundle that no trusted cosign key verifies")


def _pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding: what a DSSE signature covers."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def certificate_identity(certificate: x509.Certificate) -> Identity:
    """The OIDC issuer and subject (SAN e-mail or URI) a Fulcio certificate carries."""
    from cryptography import x509  # keyless signatures only: verify starts faster without it

    issuer = ""
    for oid in (_ISSUER_V2, _ISSUER_V1):
        try:
            raw = certificate.extensions.get_extension_for_oid(x509.ObjectIdentifier(oid)).value
        except x509.ExtensionNotFound:
            continue
        value = raw.value if isinstance(raw, x509.UnrecognizedExtension) else b""
        if oid == _ISSUER_V2 and value[:1] == b"\x0c":  # DER UTF8String: tag, length, text
            length = value[1]
            start = 2 if length < 0x80 else 2 + (length & 0x7F)
            value = value[start:]
        issuer = value.decode("utf-8", "replace")
        break
    subject = ""
    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        found = names.value.get_values_for_type(x509.RFC822Name) or \
            names.value.get_values_for_type(x509.UniformResourceIdentifier)
        subject = found[0] if found else ""
    except x509.ExtensionNotFound:
        pass
    return Identity(issuer, subject)


# -- trust store loader -----------------------------------------------------------------


def trusted_root(path: Any, data: bytes) -> TrustedKey:
    """A trust-store entry for `NAME.trusted_root.json` (a Sigstore trusted root)."""
    from sigstore.models import TrustedRoot

    try:
        TrustedRoot.from_file(str(path))
    except Exception as exc:  # the library raises several kinds for a bad file
        raise StationError(f"not a Sigstore trusted root ({type(exc).__name__})") from exc
    name = path.name[: -len(".trusted_root.json")]
    return TrustedKey(name=name, scheme=SIGSTORE_ROOT,
                      fingerprint=hashlib.sha256(data).hexdigest().upper(), path=path,
                      data=data, description="Sigstore trusted root")


# -- staging ----------------------------------------------------------------------------


def referrers_index(artifact: AttachedSignature) -> bytes:
    """The station's index for the OCI referrers tag `sha256-<hex>` of one referrer."""
    entry: dict[str, Any] = {"mediaType": artifact.manifest.media_type,
                             "digest": artifact.manifest.digest,
                             "size": artifact.manifest.size}
    if artifact.artifact_type:
        entry["artifactType"] = artifact.artifact_type
    document = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [entry]}
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()


def stage_signatures(
    items: Sequence[Item],
    checks: Sequence[ImageSignatureCheck],
    images: Sequence[StagedImage],
    store: BlobStore,
) -> tuple[StagedImage, ...]:
    """The verified signature artifacts as entries of the station's layout, named where a
    registry and admission control look for them: cosign's `REPO:sha256-<hex>.sig`, and the
    OCI referrers tag `REPO:sha256-<hex>` (an index the station writes) for a Sigstore
    bundle. An artifact none of whose signatures verified never crosses."""
    valid = {check.artifact for check in checks if check.valid}
    by_digest: dict[str, list[StagedImage]] = {}
    for image in images:
        for digest in {image.descriptor.digest, *(i.manifest_digest for i in image.images)}:
            by_digest.setdefault(digest, []).append(image)
    staged: dict[str, StagedImage] = {}
    for item in items:
        for signature in item.signatures:
            if signature.manifest.digest not in valid or signature.manifest.digest in staged:
                continue
            repositories = dict.fromkeys(
                parse_reference(reference).repository
                for image in by_digest.get(signature.subject, ())
                for reference in image.references
            )
            hexdigest = signature.subject.removeprefix("sha256:")
            blobs = [signature.manifest.digest, signature.config.digest,
                     *(payload.digest for payload in signature.payloads)]
            descriptor = replace(signature.manifest, annotations={}, platform=None)
            if signature.kind is SignatureKind.COSIGN:
                names = tuple(f"{repo}:sha256-{hexdigest}.sig" for repo in repositories)
            else:
                data = referrers_index(signature)
                descriptor = Descriptor(OCI_INDEX, store.put(data, "a referrers index"),
                                        len(data))
                blobs.insert(0, descriptor.digest)
                names = tuple(f"{repo}:sha256-{hexdigest}" for repo in repositories)
            staged[signature.manifest.digest] = StagedImage(
                item.path, names, descriptor, (), tuple(dict.fromkeys(blobs)),
                signs=signature.subject,
            )
    return tuple(staged.values())
