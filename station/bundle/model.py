"""What a bundle is, once read from the media: plain data, no I/O.

A bundle has one *manifest* (the signed list: `SHA256SUMS` or `bundle.json`), the detached
signatures beside it, the *entries* the manifest lists (every file, with its expected digest)
and the *items* those entries make up (an image archive, an OCI layout folder, a file, an SBOM,
a scan report). The bundle digest, `sha256:` of the manifest's exact bytes, is the one
identifier that operators compare and that the audit log records.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path


class BundleFormat(StrEnum):
    """Which manifest the bundle carries."""

    SHA256SUMS = "sha256sums"
    NATIVE = "bundle.json"
    ZARF = "zarf"  # a Zarf package: zarf.yaml inside the archive (station.bundle.zarf)


class ItemKind(StrEnum):
    """What an item is, as the operator sees it."""

    IMAGE_ARCHIVE = "image-archive"
    OCI_LAYOUT = "oci-layout"
    FILE = "file"
    SBOM = "sbom"
    SCAN_REPORT = "scan-report"


@dataclass(frozen=True)
class Finding:
    """One reason or warning, in plain words, tied to a file where there is one.

    `code` is stable for scripts (`unsafe-path`, `missing`, `checksum-mismatch`, ...);
    `message` is for people.
    """

    code: str
    message: str
    path: str | None = None

    def to_json(self) -> dict[str, str | None]:
        return {"code": self.code, "path": self.path, "message": self.message}


@dataclass(frozen=True)
class Entry:
    """One file that the manifest lists: relative POSIX path, expected digest and size.

    `size` is None where the manifest does not say (SHA256SUMS); the size cap then applies to
    the size found on the media, checked before reading.
    """

    path: str
    sha256: str
    size: int | None = None


@dataclass(frozen=True)
class Layer:
    """One layer of an image: the digest and size its manifest declares."""

    digest: str
    size: int
    media_type: str = ""


@dataclass(frozen=True)
class ImageInfo:
    """One image (one platform) found in an image archive or OCI layout."""

    references: tuple[str, ...]
    platform: str
    manifest_digest: str
    config_digest: str
    layers: tuple[Layer, ...]
    config_size: int = 0
    created: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    media_type: str = ""

    @property
    def total_size(self) -> int:
        return self.config_size + sum(layer.size for layer in self.layers)


@dataclass(frozen=True)
class Descriptor:
    """A checked OCI descriptor: what a manifest or index says another blob is."""

    media_type: str
    digest: str
    size: int
    annotations: Mapping[str, str] = field(default_factory=dict)
    platform: tuple[str, str] | None = None  # (os, architecture) when the index says


@dataclass(frozen=True)
class ImageRecord:
    """One runnable image (one platform) and where its parts are among the item's members.

    `manifest` is None for a docker save image, which has no registry manifest (the station
    writes one when it stages the image).
    """

    info: ImageInfo
    manifest: Descriptor | None
    config_member: str
    layer_members: tuple[str, ...]
    diff_ids: tuple[str, ...]
    config_media_type: str = ""


@dataclass(frozen=True)
class ImageGroup:
    """What one top-level entry names: one image, or the platforms of a multi-platform index.

    `references` are full, normalised references; `tags` are bare tags (an OCI `ref.name`
    like `1.2` that names no repository). `top` is the entry's descriptor in index.json
    (None for docker save). `indexes` are the image indexes walked under it; `complete` says
    no child of them was left out, so the verified index itself can be kept.
    """

    references: tuple[str, ...]
    tags: tuple[str, ...]
    top: Descriptor | None
    images: tuple[ImageRecord, ...]
    indexes: tuple[Descriptor, ...] = ()
    complete: bool = True


class SignatureKind(StrEnum):
    """How a signature travels beside an image in the same layout."""

    COSIGN = "cosign"  # a `sha256-<hex>.sig` image of simplesigning payloads (cosign sign)
    SIGSTORE_BUNDLE = "sigstore-bundle"  # an OCI referrer holding a Sigstore bundle


@dataclass(frozen=True)
class AttachedSignature:
    """A signature artifact found among an item's entries (never an image to run).

    `subject` is the manifest digest it claims to sign (the cosign payload's
    `docker-manifest-digest`, a referrer's `subject`); `payloads` are its layers, each with
    the annotations that carry a cosign signature. Nothing here is verified yet: see
    `station.verify.image_signatures`.
    """

    kind: SignatureKind
    manifest: Descriptor
    subject: str
    config: Descriptor
    payloads: tuple[Descriptor, ...]
    tags: tuple[str, ...] = ()
    artifact_type: str = ""


@dataclass(frozen=True)
class Item:
    """A thing the bundle carries, made of one or more listed entries.

    For an OCI layout folder, `path` is the folder and `entries` are the files inside it.
    `references` are the image references the manifest declares (bundle.json only); `images`
    are what reading the archive or layout found (one per image and platform, carrying the
    references it will be imported under) and `groups` how they are named.
    """

    path: str
    kind: ItemKind
    entries: tuple[Entry, ...]
    references: tuple[str, ...] = ()
    images: tuple[ImageInfo, ...] = ()
    groups: tuple[ImageGroup, ...] = ()
    signatures: tuple[AttachedSignature, ...] = ()
    description: str = ""  # what a vendor package says the item carries (Zarf components)

    @property
    def size(self) -> int | None:
        sizes = [entry.size for entry in self.entries]
        if any(size is None for size in sizes):
            return None
        return sum(size for size in sizes if size is not None)


@dataclass(frozen=True)
class BundleInfo:
    """The descriptive fields of a bundle.json manifest (absent for SHA256SUMS)."""

    name: str
    channel: str
    sequence: int
    created: str
    producer: str


@dataclass(frozen=True)
class SignatureFile:
    """A detached signature found beside the manifest, read once into memory."""

    name: str
    data: bytes


@dataclass(frozen=True)
class PackageFiles:
    """The media files that hold one package, in reading order (one, or the split parts
    after `.part000`), and what `.part000` promises about their concatenation."""

    name: str
    parts: tuple[str, ...]
    split_sha256: str | None = None
    split_bytes: int | None = None

    @property
    def files(self) -> tuple[str, ...]:
        """Every media file of the package, `.part000` included."""
        if self.split_sha256 is None:
            return self.parts
        return (f"{self.name}.part000", *self.parts)


@dataclass(frozen=True)
class Bundle:
    """A bundle read from the media. Reading it checked names, not contents."""

    root: Path
    format: BundleFormat
    manifest_name: str
    manifest: bytes
    digest: str
    entries: tuple[Entry, ...]
    items: tuple[Item, ...]
    signatures: tuple[SignatureFile, ...] = ()
    info: BundleInfo | None = None
    problems: tuple[Finding, ...] = ()
    warnings: tuple[Finding, ...] = ()
    package: PackageFiles | None = None  # a vendor package: the media files holding it
    root_identity: tuple[int, int] | None = None  # (st_dev, st_ino) of the media folder

    @property
    def images(self) -> tuple[ImageInfo, ...]:
        return tuple(image for item in self.items for image in item.images)

    @property
    def declared_size(self) -> int:
        """Bytes listed with a known size (all of them, for bundle.json)."""
        return sum(entry.size or 0 for entry in self.entries)
