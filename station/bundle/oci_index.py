"""Walk an OCI image layout (folder or tarball) from index.json down to each image.

index.json lists manifests, or image indexes (multi-platform) that list manifests in turn;
each manifest names a config and layers. Every manifest, index and config is read whole (they
are small), and its bytes must hash to the digest it is stored under. Layer blobs are only
checked for presence and size here; their bytes are hashed later, by verification.
"""

from __future__ import annotations

from dataclasses import dataclass

from station.bundle.model import ImageInfo, Layer
from station.bundle.oci_json import (
    CONFIG_TYPES,
    CONTAINERD_NAME,
    INDEX_TYPES,
    LAYER_TYPES,
    MANIFEST_TYPES,
    OCI_INDEX,
    REF_NAME,
    Descriptor,
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
)
from station.config import Limits

MAX_INDEX_DEPTH = 4
# buildx and Docker attach provenance/SBOM documents as extra "images" of platform
# unknown/unknown; they carry no filesystem and are not images an operator imports.
_ATTESTATION = ("vnd.docker.reference.type", "attestation-manifest")


def references_of(descriptor: Descriptor) -> tuple[str, ...]:
    """Image references an index entry carries, full ones first.

    `io.containerd.image.name` holds a full reference; `org.opencontainers.image.ref.name` may
    hold a full reference or only a tag (`1.2`). A bare tag that only repeats the tag of the
    full name beside it is left out; any other value is kept exactly as written.
    """
    full = descriptor.annotations.get(CONTAINERD_NAME)
    ref = descriptor.annotations.get(REF_NAME)
    result: list[str] = [full] if full else []
    if ref and ref not in result:
        repeats_tag = full is not None and "/" not in ref and full.endswith(":" + ref)
        if not repeats_tag:
            result.append(ref)
    return tuple(result)


@dataclass
class _Walk:
    source: JsonSource
    limits: Limits
    visited: int = 0

    @property
    def label(self) -> str:
        return self.source.label

    def media_type(self, descriptor: Descriptor, where: str) -> str:
        """The descriptor's media type; OCI requires it, so an absent one is refused."""
        if not descriptor.media_type:
            raise fail(self.label, f"{where}: the descriptor has no 'mediaType'")
        return descriptor.media_type

    def images(self, descriptor: Descriptor, refs: tuple[str, ...], where: str, depth: int
               ) -> list[ImageInfo]:
        self.visited += 1
        if self.visited > self.limits.max_files:
            raise fail(self.label, f"the index lists more than {self.limits.max_files} entries")
        media_type = self.media_type(descriptor, where)
        if media_type in MANIFEST_TYPES:
            return [self.image(descriptor, refs, where)]
        if media_type not in INDEX_TYPES:
            raise fail(
                self.label,
                f"{where}: {descriptor.digest} is of type {media_type!r}, not an image",
                hint="the station imports container images only",
            )
        if depth >= MAX_INDEX_DEPTH:
            raise fail(self.label, f"{where}: image indexes are nested more than "
                       f"{MAX_INDEX_DEPTH} levels deep (or refer to each other in a loop)")
        cap = self.limits.max_archive_index_bytes
        data = read_blob(self.source, descriptor, "image index", cap)
        index = load_object(self.label, data, f"image index {descriptor.digest}")
        self.check_media_type(index, media_type, f"image index {descriptor.digest}")
        found: list[ImageInfo] = []
        children = get_list(self.label, index, "manifests", f"image index {descriptor.digest}")
        for i, raw in enumerate(children):
            child_where = f"image index {descriptor.digest[:19]}… manifests[{i}]"
            child = parse_descriptor(self.label, raw, child_where)
            if _ATTESTATION in child.annotations.items():
                continue
            if not self.source.has_file(blob_path(child.digest)):
                # A multi-platform index is often exported with only some platforms present
                # (containerd, nerdctl, docker save): the absent ones are not on the media.
                continue
            found.extend(self.images(child, refs, child_where, depth + 1))
        if not found:
            raise fail(self.label, f"{where}: image index {descriptor.digest} has no image "
                       "present in the archive")
        return found

    def check_media_type(self, document: dict[str, object], expected: str, what: str) -> None:
        declared = document.get("mediaType")
        if declared is not None and declared != expected:
            raise fail(self.label, f"{what} says it is {declared!r} but was listed as {expected!r}")
        get_int(self.label, document, "schemaVersion", what)
        if document["schemaVersion"] != 2:
            raise fail(self.label, f"{what}: schemaVersion must be 2")

    def image(self, descriptor: Descriptor, refs: tuple[str, ...], where: str) -> ImageInfo:
        cap = self.limits.max_archive_index_bytes
        what = f"manifest {descriptor.digest}"
        data = read_blob(self.source, descriptor, "manifest", cap)
        manifest = load_object(self.label, data, what)
        self.check_media_type(manifest, descriptor.media_type, what)
        config_desc = parse_descriptor(self.label, manifest.get("config"), f"{what} config")
        if config_desc.media_type not in CONFIG_TYPES:
            raise fail(
                self.label,
                f"{what}: config type {config_desc.media_type!r} is not a container image config",
                hint="the station imports container images only, not other OCI artifacts",
            )
        config_bytes = read_blob(self.source, config_desc, "config", cap)
        config = parse_config(self.label, config_bytes, f"config {config_desc.digest}")
        if descriptor.platform and descriptor.platform != (config.os, config.architecture):
            listed = "/".join(descriptor.platform)
            raise fail(self.label, f"{where} lists platform {listed} but its config says "
                       f"{config.platform}")
        layers: list[Layer] = []
        for i, raw in enumerate(get_list(self.label, manifest, "layers", what)):
            layer = parse_descriptor(self.label, raw, f"{what} layers[{i}]")
            if layer.media_type not in LAYER_TYPES:
                raise fail(self.label, f"{what} layers[{i}]: {layer.media_type!r} is not a "
                           "layer type the station knows")
            shown = f"layer {layer.digest}"
            actual = self.source.file_size(blob_path(layer.digest), shown)
            if actual != layer.size:
                raise fail(self.label, f"{shown} is {actual} bytes, not the {layer.size} "
                           "its manifest declares")
            layers.append(Layer(layer.digest, layer.size, layer.media_type))
        if len(config.diff_ids) != len(layers):
            raise fail(self.label, f"{what} lists {len(layers)} layers but its config lists "
                       f"{len(config.diff_ids)}")
        return ImageInfo(
            references=refs,
            platform=config.platform,
            manifest_digest=descriptor.digest,
            config_digest=config_desc.digest,
            layers=tuple(layers),
            config_size=config_desc.size,
            created=config.created,
            labels=config.labels,
            media_type=descriptor.media_type,
        )


def read_oci_images(source: JsonSource, limits: Limits) -> list[ImageInfo]:
    """Every image an OCI layout holds, in index order, one per platform.

    Raises BundleError naming `source.label` for anything malformed, missing or altered.
    """
    layout = load_object(source.label, source.read_small("oci-layout", "the oci-layout file"),
                         "the oci-layout file")
    version = get_str(source.label, layout, "imageLayoutVersion", "the oci-layout file")
    if version != "1.0.0":
        raise fail(source.label, f"OCI layout version {version!r} is not supported (1.0.0 is)")
    index = load_object(source.label, source.read_small("index.json", "index.json"),
                        "index.json")
    walk = _Walk(source, limits)
    walk.check_media_type(index, OCI_INDEX, "index.json")
    images: list[ImageInfo] = []
    for i, raw in enumerate(get_list(source.label, index, "manifests", "index.json")):
        where = f"index.json manifests[{i}]"
        descriptor = parse_descriptor(source.label, raw, where)
        if _ATTESTATION in descriptor.annotations.items():
            continue
        images.extend(walk.images(descriptor, references_of(descriptor), where, 0))
    return images
