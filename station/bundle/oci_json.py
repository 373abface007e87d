"""Strict reading of the small JSON documents inside images: descriptors, manifests, configs.

Everything here comes from hostile media. JSON is parsed strictly (no duplicate keys, no NaN,
bounded nesting), every field is type-checked, and digests must be `sha256:` + 64 lowercase
hex. Problems raise `BundleError` with a message naming the source and the field, never a
`KeyError` or `TypeError` traceback.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from station.bundle import strict_json
from station.bundle.model import Descriptor
from station.errors import BundleError

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
MANIFEST_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
CONFIG_TYPES = frozenset(
    {"application/vnd.oci.image.config.v1+json", "application/vnd.docker.container.image.v1+json"}
)
DOCKER_LAYER_TAR = "application/vnd.docker.image.rootfs.diff.tar"
LAYER_TYPES = frozenset(
    {
        "application/vnd.oci.image.layer.v1.tar",
        "application/vnd.oci.image.layer.v1.tar+gzip",
        "application/vnd.oci.image.layer.v1.tar+zstd",
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
        DOCKER_LAYER_TAR,
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    }
)
REF_NAME = "org.opencontainers.image.ref.name"
CONTAINERD_NAME = "io.containerd.image.name"

MAX_VALUES = 200_000
"""Values one image document (manifest.json, index, manifest, config) may hold: thousands
of images or layers fit; parsing stays within ~15 MB whatever the document (see
`strict_json`)."""

_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_ALGORITHM = re.compile(r"([a-z0-9]+(?:[+._-][a-z0-9]+)*):")


class JsonSource(Protocol):
    """Where small JSON files come from: a tar archive or an OCI layout folder."""

    label: str

    def read_small(self, name: str, what: str) -> bytes:
        """The whole file `name` (at most the index-size limit), or BundleError."""
        ...

    def file_size(self, name: str, what: str) -> int:
        """The size of the regular file `name` without reading it, or BundleError."""
        ...

    def has_file(self, name: str) -> bool:
        """Whether `name` is present at all (any kind of entry)."""
        ...


def fail(label: str, problem: str, hint: str | None = None) -> BundleError:
    """A BundleError that names the archive or folder first."""
    return BundleError(f"{label}: {problem}", hint=hint)


def load_json(label: str, data: bytes, what: str) -> Any:
    """Parse `data` with the station's strict loader (see `strict_json`)."""
    return strict_json.loads(data, label=label, what=what, max_values=MAX_VALUES)


def load_object(label: str, data: bytes, what: str) -> dict[str, Any]:
    return strict_json.load_object(data, label=label, what=what, max_values=MAX_VALUES)


def value(label: str, obj: Mapping[str, Any], key: str, where: str) -> Any:
    """`obj[key]` or None, refusing the key written in another case (Go would read it)."""
    return strict_json.field(obj, key, label=label, where=where)


def get_str(label: str, obj: Mapping[str, Any], key: str, where: str, *, required: bool = True
            ) -> str | None:
    found = value(label, obj, key, where)
    if found is None and not required:
        return None
    if not isinstance(found, str):
        raise fail(label, f"{where}: '{key}' must be a string")
    return found


def get_int(label: str, obj: Mapping[str, Any], key: str, where: str) -> int:
    found = value(label, obj, key, where)
    if not isinstance(found, int) or isinstance(found, bool) or found < 0:
        raise fail(label, f"{where}: '{key}' must be a whole number of bytes, not {found!r}")
    return found


def get_list(label: str, obj: Mapping[str, Any], key: str, where: str, *, required: bool = True
             ) -> list[Any]:
    found = value(label, obj, key, where)
    if found is None and not required:
        return []
    if not isinstance(found, list):
        raise fail(label, f"{where}: '{key}' must be a list")
    return found


def get_str_map(label: str, obj: Mapping[str, Any], key: str, where: str) -> dict[str, str]:
    """An optional string-to-string map (annotations, labels); null counts as empty."""
    found = value(label, obj, key, where)
    if found is None:
        return {}
    if not isinstance(found, dict) or not all(isinstance(v, str) for v in found.values()):
        raise fail(label, f"{where}: '{key}' must map names to strings")
    return found


def check_digest(label: str, value: object, where: str) -> str:
    """`value` if it is `sha256:` + 64 lowercase hex; other algorithms are refused by name."""
    if isinstance(value, str) and _DIGEST.fullmatch(value):
        return value
    if isinstance(value, str):
        algorithm = _ALGORITHM.match(value)
        if algorithm and algorithm.group(1) != "sha256":
            raise fail(
                label,
                f"{where}: digest algorithm {algorithm.group(1)!r} is not supported",
                hint="the station checks sha256 digests only; rebuild the image with sha256",
            )
    shown = repr(value)[:90]
    raise fail(label, f"{where}: {shown} is not a sha256 digest (sha256: and 64 lowercase hex)")


def blob_path(digest: str) -> str:
    return "blobs/sha256/" + digest.removeprefix("sha256:")


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def parse_descriptor(label: str, raw: object, where: str) -> Descriptor:
    if not isinstance(raw, dict):
        raise fail(label, f"{where} is not a JSON object")
    digest = check_digest(label, value(label, raw, "digest", where), where)
    size = get_int(label, raw, "size", where)
    media_type = get_str(label, raw, "mediaType", where, required=False) or ""
    annotations = get_str_map(label, raw, "annotations", where)
    platform = None
    raw_platform = value(label, raw, "platform", where)
    if raw_platform is not None:
        if not isinstance(raw_platform, dict):
            raise fail(label, f"{where}: 'platform' must be an object")
        os_name = get_str(label, raw_platform, "os", f"{where} platform")
        arch = get_str(label, raw_platform, "architecture", f"{where} platform")
        platform = (os_name or "", arch or "")
    return Descriptor(media_type, digest, size, annotations, platform)


def read_blob(source: JsonSource, descriptor: Descriptor, what: str, max_bytes: int) -> bytes:
    """Read a small blob and prove that its bytes have the digest and size its name claims."""
    shown = f"{what} {descriptor.digest}"
    if descriptor.size > max_bytes:
        raise fail(
            source.label,
            f"{shown} declares {descriptor.size} bytes, over the limit of {max_bytes}",
            hint="raise [limits] max_archive_index_bytes only if this image is expected",
        )
    data = source.read_small(blob_path(descriptor.digest), shown)
    if sha256_digest(data) != descriptor.digest:
        raise fail(source.label, f"{shown} does not match its digest (the blob was altered)")
    if len(data) != descriptor.size:
        raise fail(source.label, f"{shown} is {len(data)} bytes, not {descriptor.size}")
    return data


@dataclass(frozen=True)
class ImageConfig:
    """What the station shows from an image config: platform, creation time, labels, layers."""

    platform: str
    os: str
    architecture: str
    created: str | None
    labels: Mapping[str, str]
    diff_ids: tuple[str, ...]


def parse_config(label: str, data: bytes, what: str) -> ImageConfig:
    config = load_object(label, data, what)
    os_name = get_str(label, config, "os", what) or ""
    arch = get_str(label, config, "architecture", what) or ""
    variant = get_str(label, config, "variant", what, required=False)
    if not os_name or not arch:
        raise fail(label, f"{what}: 'os' and 'architecture' must not be empty")
    platform = f"{os_name}/{arch}" + (f"/{variant}" if variant else "")
    created = get_str(label, config, "created", what, required=False)
    inner = value(label, config, "config", what)
    labels: dict[str, str] = {}
    if inner is not None:
        if not isinstance(inner, dict):
            raise fail(label, f"{what}: 'config' must be an object")
        labels = get_str_map(label, inner, "Labels", f"{what} config")
    rootfs = value(label, config, "rootfs", what)
    if not isinstance(rootfs, dict):
        raise fail(label, f"{what}: 'rootfs' must be an object")
    diff_ids = tuple(
        check_digest(label, value, f"{what} rootfs.diff_ids[{i}]")
        for i, value in enumerate(get_list(label, rootfs, "diff_ids", f"{what} rootfs"))
    )
    return ImageConfig(platform, os_name, arch, created, labels, diff_ids)
