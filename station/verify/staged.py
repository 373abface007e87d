"""The verified bundle in the station's own canonical form: the only input a target reads.

After hashing, each image item's members (blobs written while hashing) are read again by the
strict readers, every layer is checked against its config's diff_id, names are settled
(`naming`), and the station writes its own OCI image layout in `staging/<digest hex>/oci/`:
its own index.json, its own manifest for a `docker save` image (which has none), its own
image index for a partial multi-platform export. Verified manifests, configs and layers are
kept byte for byte, so their digests stay the ones verified. Plain files are in `files/`.

Whatever a loader's parser does, it only ever reads bytes the station wrote or verified blob
by blob: the media's own containers (tars, index files) never reach a target.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from station.bundle import skopeo_dir
from station.bundle.compression import Compression
from station.bundle.members import Blob, ByteBudget, Members
from station.bundle.model import (
    Descriptor,
    Finding,
    ImageGroup,
    ImageInfo,
    ImageRecord,
    Item,
    ItemKind,
    Layer,
)
from station.bundle.naming import ambiguous_names, assign_references, declared_references
from station.bundle.oci import images_of, read_groups
from station.bundle.oci_json import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    REF_NAME,
    blob_path,
)
from station.bundle.safety import describe_name
from station.config import Limits
from station.errors import BundleError
from station.verify.blobstore import BlobStore
from station.verify.hashing import HashResult

if TYPE_CHECKING:
    from station.verify.image_signatures import ImageSignatureCheck

OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
_LAYER_TYPES = {
    None: "application/vnd.oci.image.layer.v1.tar",
    Compression.GZIP: "application/vnd.oci.image.layer.v1.tar+gzip",
    Compression.ZSTD: "application/vnd.oci.image.layer.v1.tar+zstd",
}
IMAGE_KINDS = (ItemKind.IMAGE_ARCHIVE, ItemKind.OCI_LAYOUT)


@dataclass(frozen=True)
class StagedImage:
    """One named entry of the staged layout: one image, or a multi-platform image index.

    `descriptor` is what index.json points at (a manifest or an index); `images` are its
    platforms, with the digests of the staged manifest, config and layer blobs.
    """

    item: str
    references: tuple[str, ...]
    descriptor: Descriptor
    images: tuple[ImageInfo, ...]
    blobs: tuple[str, ...]  # every blob digest the entry needs, index and manifests first
    signs: str | None = None  # a signature artifact: the manifest digest it signs

    @property
    def is_index(self) -> bool:
        return self.descriptor.media_type in (OCI_INDEX, DOCKER_LIST)

    @property
    def total_size(self) -> int:
        return sum(image.total_size for image in self.images)

    @property
    def manifests(self) -> frozenset[str]:
        """The manifests an index entry lists (a referrers index lists its referrer)."""
        if self.signs is not None and self.is_index:
            return frozenset(self.blobs[1:2])
        return frozenset(image.manifest_digest for image in self.images)


@dataclass(frozen=True)
class StagedFile:
    """A plain file, SBOM or report: verified bytes at `files_root / path`."""

    item: str
    path: str
    sha256: str
    size: int
    kind: ItemKind


@dataclass(frozen=True)
class StagedBundle:
    """A verified bundle. `root` is its staging folder, None when nothing was staged
    (`station verify`): then `files_root` is the media and no target may read it."""

    digest: str
    root: Path | None
    items: tuple[Item, ...]
    images: tuple[StagedImage, ...] = ()
    files: tuple[StagedFile, ...] = ()
    files_root: Path | None = None
    signatures: tuple[StagedImage, ...] = ()  # verified signature artifacts (`signs` set)
    image_signatures: tuple[ImageSignatureCheck, ...] = ()
    blobs_durable: bool = True
    """False when the image blobs were staged for a target that streams them: an import
    that names them in place must fsync them first (`OciLayout.link_blob`)."""

    @property
    def layout(self) -> Path:
        if self.root is None:
            raise BundleError("the bundle was verified without staging; verify it again to "
                              "import it")
        return self.root / "oci"

    def blob_path(self, digest: str) -> Path:
        return self.layout / blob_path(digest)

    @property
    def total_size(self) -> int:
        return sum(image.total_size for image in self.images) + sum(f.size for f in self.files)


def _layout_members(item: Item, results: Sequence[HashResult], limits: Limits,
                    budget: ByteBudget) -> Members:
    members = Members(describe_name(item.path), limits, budget)
    for result in results:
        if result.task is not None and result.blob is not None:
            members.add_file(result.task.member, result.blob, result.kept)
    return members


def _members_by_item(items: Sequence[Item], results: Sequence[HashResult], limits: Limits,
                     budget: ByteBudget) -> dict[str, Members]:
    by_entry = {result.entry.path: result for result in results}
    found: dict[str, Members] = {}
    for item in items:
        if item.kind is ItemKind.IMAGE_ARCHIVE:
            result = by_entry.get(item.entries[0].path) if item.entries else None
            if result is not None and result.members is not None:
                found[item.path] = result.members
        elif item.kind is ItemKind.OCI_LAYOUT:
            mine = [by_entry[e.path] for e in item.entries if e.path in by_entry]
            found[item.path] = _layout_members(item, mine, limits, budget)
    return found


def _check_layers(item: Item, members: Members, group: ImageGroup) -> list[Finding]:
    """Every layer's content must be what its config's diff_ids say."""
    problems: list[Finding] = []
    shown = describe_name(item.path)
    for record in group.images:
        for position, (member, diff_id) in enumerate(
            zip(record.layer_members, record.diff_ids, strict=True)
        ):
            blob = members.blob(member, f"layer {position}")
            if blob.diff_digest != diff_id:
                problems.append(Finding(
                    "diff-id-mismatch",
                    f"{shown}: layer {position} of image {record.info.config_digest[:19]}… "
                    f"has content {blob.diff_digest}, but its config says {diff_id}; the "
                    "image is inconsistent",
                    item.path,
                ))
            elif record.manifest is None and blob.compression not in _LAYER_TYPES:
                kind = blob.compression.value if blob.compression else "?"
                problems.append(Finding(
                    "unreadable-image",
                    f"{shown}: layer {position} is compressed with {kind}, which an OCI image "
                    "cannot carry; save the image again with docker save",
                    item.path,
                ))
    return problems


@dataclass
class _Reading:
    items: list[Item]
    problems: list[Finding]
    warnings: list[Finding]
    members: dict[str, Members]


def read_verified_images(
    items: Sequence[Item], results: Sequence[HashResult], limits: Limits, budget: ByteBudget
) -> _Reading:
    """The items with their images read again from the hashed bytes, and what is wrong."""
    members = _members_by_item(items, results, limits, budget)
    reading = _Reading([], [], [], members)
    for item in items:
        declared, problems = declared_references(item)
        reading.problems.extend(problems)
        item = replace(item, references=declared)
        if item.kind not in IMAGE_KINDS or item.path not in members:
            reading.items.append(item)
            continue
        source = members[item.path]
        try:
            if item.kind is ItemKind.OCI_LAYOUT and skopeo_dir.is_skopeo_dir(
                frozenset(source.files)
            ):
                reading.warnings.extend(
                    Finding("artifact-skipped", f"{describe_name(item.path)}: {note}", item.path)
                    for note in skopeo_dir.notes(frozenset(source.files))
                )
                source = members[item.path] = skopeo_dir.as_layout(source, limits)
            found = read_groups(source, limits)
        except BundleError as exc:
            reading.problems.append(Finding(
                "unreadable-image", f"{describe_name(item.path)}: cannot read the images: "
                f"{exc.message}", item.path))
            reading.items.append(item)
            continue
        reading.warnings.extend(
            Finding("artifact-skipped", f"{describe_name(item.path)}: {note}", item.path)
            for note in found.notes
        )
        groups, problems, warnings = assign_references(item, found.groups, declared)
        reading.problems.extend(problems)
        reading.warnings.extend(warnings)
        for group in groups:
            try:
                reading.problems.extend(_check_layers(item, source, group))
            except BundleError as exc:
                reading.problems.append(Finding("unreadable-image", exc.message, item.path))
        reading.items.append(replace(item, groups=groups, images=images_of(groups),
                                   signatures=found.signatures))
    reading.problems.extend(ambiguous_names(reading.items))
    return reading


# -- the canonical layout ---------------------------------------------------------------


def _json(document: dict[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode("utf-8")


def _descriptor_json(descriptor: Descriptor) -> dict[str, Any]:
    found: dict[str, Any] = {
        "mediaType": descriptor.media_type, "digest": descriptor.digest, "size": descriptor.size,
    }
    if descriptor.platform is not None:
        found["platform"] = {"os": descriptor.platform[0], "architecture": descriptor.platform[1]}
    return found


class _Writer:
    """Stages one group: keeps verified blobs, writes the station's own where none exist."""

    def __init__(self, store: BlobStore, members: Members) -> None:
        self.store = store
        self.members = members

    def digest_of(self, member: str) -> str:
        blob: Blob = self.members.blob(member, member)
        assert blob.digest is not None  # noqa: S101 - hashed members have digests
        return blob.digest

    def image(self, record: ImageRecord) -> tuple[Descriptor, ImageInfo, list[str]]:
        """The image's manifest descriptor (verified, or written now) and its blobs."""
        config = self.digest_of(record.config_member)
        layers = [self.digest_of(member) for member in record.layer_members]
        if record.manifest is not None:
            descriptor = record.manifest
        else:
            descriptor = self._write_manifest(record, config, layers)
        platform = tuple(record.info.platform.split("/")[:2])
        descriptor = replace(descriptor, annotations={},
                             platform=(platform[0], platform[1]) if len(platform) == 2 else None)
        info = replace(
            record.info,
            manifest_digest=descriptor.digest,
            media_type=descriptor.media_type,
            layers=tuple(
                Layer(digest, self.members.blob(member, member).size,
                      layer.media_type if record.manifest is not None
                      else _LAYER_TYPES[self.members.blob(member, member).compression])
                for digest, member, layer in zip(layers, record.layer_members,
                                                 record.info.layers, strict=True)
            ),
        )
        return descriptor, info, [descriptor.digest, config, *layers]

    def _write_manifest(self, record: ImageRecord, config: str, layers: list[str]
                        ) -> Descriptor:
        config_blob = self.members.blob(record.config_member, "config")
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config, "size": config_blob.size},
            "layers": [
                {"mediaType": _LAYER_TYPES[blob.compression], "digest": digest,
                 "size": blob.size}
                for digest, blob in (
                    (d, self.members.blob(m, m)) for d, m in zip(layers, record.layer_members,
                                                                  strict=True)
                )
            ],
        }
        data = _json(manifest)
        digest = self.store.put(data, f"the manifest of {config}")
        return Descriptor(OCI_MANIFEST, digest, len(data))

    def index(self, manifests: Sequence[Descriptor]) -> Descriptor:
        docker = all(m.media_type == DOCKER_MANIFEST for m in manifests)
        media_type = DOCKER_LIST if docker else OCI_INDEX
        document = {
            "schemaVersion": 2,
            "mediaType": media_type,
            "manifests": [_descriptor_json(m) for m in manifests],
        }
        data = _json(document)
        return Descriptor(media_type, self.store.put(data, "an image index"), len(data))


def stage_images(items: Sequence[Item], members: dict[str, Members], store: BlobStore
                 ) -> tuple[StagedImage, ...]:
    """Write what each group needs into the staged layout (blobs are there already)."""
    staged: list[StagedImage] = []
    for item in items:
        if item.path not in members:
            continue
        writer = _Writer(store, members[item.path])
        for group in item.groups:
            manifests: list[Descriptor] = []
            infos: list[ImageInfo] = []
            blobs: list[str] = []
            for record in group.images:
                descriptor, info, needed = writer.image(record)
                manifests.append(descriptor)
                infos.append(replace(info, references=group.references))
                blobs.extend(needed)
            if len(group.images) == 1 and not (group.complete and group.indexes):
                top = manifests[0]
            elif group.complete and group.top is not None and group.indexes:
                top = replace(group.top, annotations={}, platform=None)
                blobs = [index.digest for index in group.indexes] + blobs
            else:
                top = writer.index(manifests)
                blobs = [top.digest, *blobs]
            staged.append(StagedImage(item.path, group.references, top, tuple(infos),
                                      tuple(dict.fromkeys(blobs))))
    return tuple(staged)


def write_layout(layout: Path, images: Iterable[StagedImage]) -> None:
    """The station's own oci-layout and index.json, listing each image once per name."""
    entries: list[dict[str, Any]] = []
    for image in images:
        base = _descriptor_json(replace(image.descriptor, platform=None))
        if image.references:
            entries.extend({**base, "annotations": {REF_NAME: ref}} for ref in image.references)
        else:
            entries.append(base)
    (layout / "oci-layout").write_bytes(b'{"imageLayoutVersion":"1.0.0"}')
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}
    (layout / "index.json").write_bytes(json.dumps(index, indent=2).encode() + b"\n")


def prune_blobs(folder: Path, keep: set[str]) -> None:
    """Remove the blobs no staged image needs (docker save's VERSION files, manifest.json)."""
    wanted = {digest.removeprefix("sha256:") for digest in keep}
    for entry in os.scandir(folder):
        if entry.name not in wanted:
            os.unlink(entry.path)


def staged_files(items: Iterable[Item], sizes: dict[str, int]) -> tuple[StagedFile, ...]:
    """The plain files, SBOMs and reports of the bundle, in item order, with the sizes read."""
    return tuple(
        StagedFile(item.path, entry.path, entry.sha256, sizes.get(entry.path, entry.size or 0),
                   item.kind)
        for item in items
        if item.kind not in IMAGE_KINDS
        for entry in item.entries
    )
