"""Walk an OCI image layout (folder or tarball) from index.json down to each image.

index.json lists manifests, or image indexes (multi-platform) that list manifests in turn;
each manifest names a config and layers. Every manifest, index and config is read whole (they
are small), strictly (`strict_json`), and its bytes must hash to the digest it is stored
under. Layer blobs are checked for presence and size here; their bytes are hashed by
verification.

What is not a runnable image is not fatal: an attestation, a signature or another artifact
among the entries is skipped with a warning (it is never imported), and a platform that an
export left out is noted. An item that holds no image at all is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from station.bundle import attached
from station.bundle.model import (
    AttachedSignature,
    Descriptor,
    ImageGroup,
    ImageInfo,
    ImageRecord,
    Layer,
)
from station.bundle.oci_json import (
    CONFIG_TYPES,
    CONTAINERD_NAME,
    INDEX_TYPES,
    LAYER_TYPES,
    MANIFEST_TYPES,
    OCI_INDEX,
    REF_NAME,
    JsonSource,
    blob_path,
    fail,
    get_int,
    get_list,
    get_str,
    load_object,
    parse_config,
    parse_descriptor,
    read_blob,
    value,
)
from station.config import Limits
from station.errors import BundleError
from station.references import ReferenceError, is_tag, normalise

MAX_INDEX_DEPTH = 4
# What vendor stores carry beside images (Hauler's `consts`, Helm's OCI charts), shown by name.
_ARTIFACT_KINDS = {
    "application/vnd.cncf.helm.config.v1+json": "a Helm chart",
    "application/vnd.content.hauler.file.local.config.v1+json": "a file",
    "application/vnd.content.hauler.file.http.config.v1+json": "a file",
}
# buildx and Docker attach provenance/SBOM documents as extra "images" of platform
# unknown/unknown; they carry no filesystem and are not images an operator imports.
_ATTESTATION = ("vnd.docker.reference.type", "attestation-manifest")


def references_of(label: str, descriptor: Descriptor) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(full references, bare tags) of an index.json entry, validated and normalised.

    `io.containerd.image.name` holds a full reference; `org.opencontainers.image.ref.name`
    holds a full reference (it has a `/` or `:`) or a bare tag. A bare tag next to full
    names must be the tag of one of them: otherwise an OCI loader and the station would tag
    the image differently.
    """
    full: list[str] = []
    tags: list[str] = []
    for key in (CONTAINERD_NAME, REF_NAME):
        raw = descriptor.annotations.get(key)
        if raw is None:
            continue
        try:
            if key == CONTAINERD_NAME or "/" in raw or ":" in raw:
                name = normalise(raw)
                if name not in full:
                    full.append(name)
            elif is_tag(raw):
                tags.append(raw)
            else:
                raise ReferenceError(f"{raw!r} is neither a reference nor a tag")
        except ReferenceError as exc:
            raise fail(label, f"index.json names an image {exc.message}") from None
    if full:
        for tag in tags:
            if not any(name.endswith(f":{tag}") for name in full):
                raise fail(label, f"index.json names one image both {full[0]} and with the tag "
                           f"{tag!r}; the two disagree")
    return tuple(full), tuple(tags)


@dataclass
class _Walk:
    source: JsonSource
    limits: Limits
    visited: int = 0
    notes: list[str] = field(default_factory=list)
    signatures: list[AttachedSignature] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.source.label

    def media_type(self, descriptor: Descriptor, where: str) -> str:
        """The descriptor's media type; OCI requires it, so an absent one is refused."""
        if not descriptor.media_type:
            raise fail(self.label, f"{where}: the descriptor has no 'mediaType'")
        return descriptor.media_type

    def entry(self, descriptor: Descriptor, where: str) -> ImageGroup | None:
        """One index.json entry as a group; None when it is an artifact (noted)."""
        if _ATTESTATION in descriptor.annotations.items():
            self.notes.append(f"{where}: an attestation, skipped")
            return None
        refs, tags = references_of(self.label, descriptor)
        images: list[ImageRecord] = []
        indexes: list[Descriptor] = []
        signed_before = len(self.signatures)
        complete = self.images(descriptor, where, 0, images, indexes)
        if not images:
            if indexes and len(self.signatures) == signed_before:
                raise fail(self.label, f"{where}: image index {descriptor.digest} has no image "
                           "present in the archive")
            return None
        return ImageGroup(refs, tags, descriptor, tuple(images), tuple(indexes), complete)

    def images(self, descriptor: Descriptor, where: str, depth: int,
               found: list[ImageRecord], indexes: list[Descriptor]) -> bool:
        """Add the images under `descriptor`; True when nothing under it was left out."""
        self.visited += 1
        if self.visited > self.limits.max_files:
            raise fail(self.label, f"the index lists more than {self.limits.max_files} entries")
        media_type = self.media_type(descriptor, where)
        if media_type in MANIFEST_TYPES:
            record = self.image(descriptor, where)
            if record is None:
                return False
            found.append(record)
            return True
        if media_type not in INDEX_TYPES:
            self.notes.append(f"{where}: {descriptor.digest} is of type {media_type!r}, not an "
                              "image; skipped")
            return False
        if depth >= MAX_INDEX_DEPTH:
            raise fail(self.label, f"{where}: image indexes are nested more than "
                       f"{MAX_INDEX_DEPTH} levels deep (or refer to each other in a loop)")
        cap = self.limits.max_archive_index_bytes
        data = read_blob(self.source, descriptor, "image index", cap)
        what = f"image index {descriptor.digest}"
        index = load_object(self.label, data, what)
        self.check_media_type(index, media_type, what)
        indexes.append(descriptor)
        complete = True
        for i, raw in enumerate(get_list(self.label, index, "manifests", what, required=False)):
            child_where = f"image index {descriptor.digest[:19]}… manifests[{i}]"
            child = parse_descriptor(self.label, raw, child_where)
            if _ATTESTATION in child.annotations.items():
                self.notes.append(f"{child_where}: an attestation, skipped")
                complete = False
                continue
            if not self.source.has_file(blob_path(child.digest)):
                # Exports often carry only some platforms (docker save, ctr export): the
                # absent ones are not on the media and nothing of them is imported.
                platform = "/".join(child.platform) if child.platform else child.digest[:19]
                self.notes.append(f"{child_where}: platform {platform} is not in the archive")
                complete = False
                continue
            if not self.images(child, child_where, depth + 1, found, indexes):
                complete = False
        return complete

    def check_media_type(self, document: dict[str, object], expected: str, what: str) -> None:
        declared = value(self.label, document, "mediaType", what)
        if declared is not None and declared != expected:
            raise fail(self.label, f"{what} says it is {declared!r} but was listed as {expected!r}")
        if get_int(self.label, document, "schemaVersion", what) != 2:
            raise fail(self.label, f"{what}: schemaVersion must be 2")

    def image(self, descriptor: Descriptor, where: str) -> ImageRecord | None:
        cap = self.limits.max_archive_index_bytes
        what = f"manifest {descriptor.digest}"
        data = read_blob(self.source, descriptor, "manifest", cap)
        manifest = load_object(self.label, data, what)
        self.check_media_type(manifest, descriptor.media_type, what)
        kind = attached.signature_kind(manifest, self.label, what)
        if kind is not None:
            try:
                self.signatures.append(attached.read_signature(self.source, descriptor,
                                                               manifest, kind))
            except BundleError as exc:
                self.notes.append(f"{where}: a {kind.value} signature that cannot be read, "
                                  f"skipped: {exc.message.removeprefix(self.label + ': ')}")
            return None
        config_desc = parse_descriptor(
            self.label, value(self.label, manifest, "config", what), f"{what} config"
        )
        if config_desc.media_type not in CONFIG_TYPES:
            artifact = _ARTIFACT_KINDS.get(config_desc.media_type)
            name = descriptor.annotations.get(CONTAINERD_NAME) or descriptor.annotations.get(
                REF_NAME, "")
            shown = f"{artifact} {name}".strip() if artifact else (
                f"an artifact of type {config_desc.media_type!r}")
            self.notes.append(f"{where}: {descriptor.digest} is {shown}, not a container "
                              "image; listed, not imported")
            return None
        config_bytes = read_blob(self.source, config_desc, "config", cap)
        config = parse_config(self.label, config_bytes, f"config {config_desc.digest}")
        if descriptor.platform and descriptor.platform != (config.os, config.architecture):
            listed = "/".join(descriptor.platform)
            raise fail(self.label, f"{where} lists platform {listed} but its config says "
                       f"{config.platform}")
        layers: list[Layer] = []
        members: list[str] = []
        for i, raw in enumerate(get_list(self.label, manifest, "layers", what)):
            layer = parse_descriptor(self.label, raw, f"{what} layers[{i}]")
            if layer.media_type not in LAYER_TYPES:
                raise fail(self.label, f"{what} layers[{i}]: {layer.media_type!r} is not a "
                           "layer type the station knows")
            shown = f"layer {layer.digest}"
            member = blob_path(layer.digest)
            actual = self.source.file_size(member, shown)
            if actual != layer.size:
                raise fail(self.label, f"{shown} is {actual} bytes, not the {layer.size} "
                           "its manifest declares")
            layers.append(Layer(layer.digest, layer.size, layer.media_type))
            members.append(member)
        if len(config.diff_ids) != len(layers):
            raise fail(self.label, f"{what} lists {len(layers)} layers but its config lists "
                       f"{len(config.diff_ids)}")
        info = ImageInfo(
            references=(),
            platform=config.platform,
            manifest_digest=descriptor.digest,
            config_digest=config_desc.digest,
            layers=tuple(layers),
            config_size=config_desc.size,
            created=config.created,
            labels=config.labels,
            media_type=descriptor.media_type,
        )
        return ImageRecord(info, descriptor, blob_path(config_desc.digest), tuple(members),
                           config.diff_ids, config_desc.media_type)


def read_oci_groups(
    source: JsonSource, limits: Limits
) -> tuple[list[ImageGroup], list[str], list[AttachedSignature]]:
    """Every image group an OCI layout holds, in index order, notes on what was skipped, and
    the signature artifacts found beside the images (`station.bundle.attached`).

    Raises BundleError naming `source.label` for anything malformed, missing or altered.
    """
    label = source.label
    layout = load_object(label, source.read_small("oci-layout", "the oci-layout file"),
                         "the oci-layout file")
    version = get_str(label, layout, "imageLayoutVersion", "the oci-layout file")
    if version != "1.0.0":
        raise fail(label, f"OCI layout version {version!r} is not supported (1.0.0 is)")
    index = load_object(label, source.read_small("index.json", "index.json"), "index.json")
    walk = _Walk(source, limits)
    walk.check_media_type(index, OCI_INDEX, "index.json")
    groups: list[ImageGroup] = []
    # `"manifests": null` is what Go reads as an empty list, and so does the station.
    for i, raw in enumerate(get_list(label, index, "manifests", "index.json", required=False)):
        where = f"index.json manifests[{i}]"
        group = walk.entry(parse_descriptor(label, raw, where), where)
        if group is not None:
            groups.append(group)
    return groups, walk.notes, walk.signatures
