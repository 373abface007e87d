"""The `docker save` view of an image tarball: manifest.json, repositories and configs.

manifest.json is what `docker load` follows, so the tags shown are exactly its `RepoTags`.
Such an archive holds no registry manifest: that one is made on push, from compressed layers
whose bytes depend on the compressor, so no manifest digest exists yet and `manifest_digest`
is left empty. Layer digests are the config's `rootfs.diff_ids` (the uncompressed tars), and
sizes are the sizes of the layer members.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

from station.bundle.model import ImageInfo, Layer
from station.bundle.oci_json import (
    DOCKER_LAYER_TAR,
    JsonSource,
    fail,
    get_list,
    load_json,
    parse_config,
    sha256_digest,
)
from station.bundle.safety import check_relative_path
from station.config import Limits
from station.errors import UnsafePathError

# Config members are named by their digest: `<hex>.json` (docker save) or `blobs/sha256/<hex>`.
_NAMED_BY_DIGEST = re.compile(r"(?:blobs/sha256/)?([0-9a-f]{64})(?:\.json)?")


@dataclass(frozen=True)
class DockerImage:
    """One manifest.json entry: the image, and the member names of its layers."""

    info: ImageInfo
    layer_paths: tuple[str, ...]


def _member_name(label: str, value: object, where: str) -> str:
    if not isinstance(value, str):
        raise fail(label, f"{where} must be a string")
    try:
        return check_relative_path(value)
    except UnsafePathError as exc:
        raise UnsafePathError(f"{label}: {where}: {exc.message}") from None


def _tags(label: str, entry: dict[str, object], where: str) -> tuple[str, ...]:
    raw = entry.get("RepoTags")
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(tag, str) and tag for tag in raw):
        raise fail(label, f"{where}: 'RepoTags' must be a list of image references")
    return tuple(dict.fromkeys(raw))


def _read_entry(source: JsonSource, limits: Limits, entry: object, where: str) -> DockerImage:
    label = source.label
    if not isinstance(entry, dict):
        raise fail(label, f"{where} is not a JSON object")
    config_name = _member_name(label, entry.get("Config"), f"{where} Config")
    config_bytes = source.read_small(config_name, "the image config")
    config_digest = sha256_digest(config_bytes)
    named = _NAMED_BY_DIGEST.fullmatch(config_name)
    if named and f"sha256:{named.group(1)}" != config_digest:
        raise fail(label, f"the image config {config_name} does not match the digest in its "
                   "name (the config was altered)")
    config = parse_config(label, config_bytes, f"the image config {config_name}")
    paths = tuple(
        _member_name(label, value, f"{where} Layers[{i}]")
        for i, value in enumerate(get_list(label, entry, "Layers", where))
    )
    if len(paths) != len(config.diff_ids):
        raise fail(label, f"{where} lists {len(paths)} layers but its config lists "
                   f"{len(config.diff_ids)}")
    layers = tuple(
        Layer(diff_id, source.file_size(path, f"layer {i} of {config_name}"), DOCKER_LAYER_TAR)
        for i, (path, diff_id) in enumerate(zip(paths, config.diff_ids, strict=True))
    )
    info = ImageInfo(
        references=_tags(label, entry, where),
        platform=config.platform,
        manifest_digest="",
        config_digest=config_digest,
        layers=layers,
        config_size=len(config_bytes),
        created=config.created,
        labels=config.labels,
    )
    return DockerImage(info, paths)


def _repository_tags(source: JsonSource) -> set[str]:
    """`repo:tag` names from the legacy `repositories` file (absent: none)."""
    if not source.has_file("repositories"):
        return set()
    data = load_json(source.label, source.read_small("repositories", "repositories"),
                     "the repositories file")
    if not isinstance(data, dict):
        raise fail(source.label, "the repositories file is not a JSON object")
    tags: set[str] = set()
    for repo, entries in data.items():
        if not isinstance(entries, dict) or not all(isinstance(v, str) for v in entries.values()):
            raise fail(source.label, f"the repositories file: {repo!r} must map tags to ids")
        tags.update(f"{repo}:{tag}" for tag in entries)
    return tags


def read_docker_images(source: JsonSource, limits: Limits) -> list[DockerImage]:
    """Every image manifest.json lists, with tags, platform, config digest and layers.

    The `repositories` file must not name a tag that manifest.json does not give: the two
    disagreeing means the archive was altered, and the operator would see one set of tags
    while another tool applied the other.
    """
    entries = load_json(source.label, source.read_small("manifest.json", "manifest.json"),
                        "manifest.json")
    if not isinstance(entries, list) or not entries:
        raise fail(source.label, "manifest.json must be a non-empty list of images")
    if len(entries) > limits.max_files:
        raise fail(source.label, f"manifest.json lists more than {limits.max_files} images")
    images = [
        _read_entry(source, limits, entry, f"manifest.json[{i}]")
        for i, entry in enumerate(entries)
    ]
    known = {tag for image in images for tag in image.info.references}
    # Docker writes familiar names in both files; compare them as written.
    extra = sorted(_repository_tags(source) - known)
    if extra:
        raise fail(source.label, f"the repositories file names {extra[0]} but manifest.json "
                   "does not (the archive is inconsistent)")
    return images


def blob_hex(path: str) -> str | None:
    """The hex digest a `blobs/sha256/<hex>` member name claims, else None."""
    head, tail = posixpath.split(path)
    return tail if head == "blobs/sha256" and re.fullmatch(r"[0-9a-f]{64}", tail) else None
