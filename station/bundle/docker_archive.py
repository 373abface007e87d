"""The `docker save` view of an image tarball: manifest.json, repositories and configs.

manifest.json is what `docker load` follows, so the tags shown are exactly its `RepoTags`
(validated and normalised). Such an archive holds no registry manifest: the station writes
one itself, from the verified config and layers, when it stages the image. Layer digests
shown before verification are the config's `rootfs.diff_ids` (the uncompressed tars), and
sizes are the sizes of the layer members; each member must hash to its diff_id, which
verification checks.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import replace

from station.bundle.model import ImageGroup, ImageInfo, ImageRecord, Layer
from station.bundle.oci_json import (
    DOCKER_LAYER_TAR,
    JsonSource,
    fail,
    get_list,
    load_json,
    parse_config,
    sha256_digest,
    value,
)
from station.bundle.safety import check_relative_path
from station.config import Limits
from station.errors import UnsafePathError
from station.references import ReferenceError, normalise

# Config members are named by their digest: `<hex>.json` (docker save) or `blobs/sha256/<hex>`.
_NAMED_BY_DIGEST = re.compile(r"(?:blobs/sha256/)?([0-9a-f]{64})(?:\.json)?")
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"


def _member_name(label: str, raw: object, where: str) -> str:
    if not isinstance(raw, str):
        raise fail(label, f"{where} must be a string")
    try:
        return check_relative_path(raw)
    except UnsafePathError as exc:
        raise UnsafePathError(f"{label}: {where}: {exc.message}") from None


def _tags(label: str, entry: dict[str, object], where: str) -> tuple[str, ...]:
    raw = value(label, entry, "RepoTags", where)
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(tag, str) and tag for tag in raw):
        raise fail(label, f"{where}: 'RepoTags' must be a list of image references")
    try:
        return tuple(dict.fromkeys(normalise(tag) for tag in raw))
    except ReferenceError as exc:
        raise fail(label, f"{where}: RepoTags: {exc.message}") from None


def _read_entry(source: JsonSource, entry: object, where: str) -> ImageGroup:
    label = source.label
    if not isinstance(entry, dict):
        raise fail(label, f"{where} is not a JSON object")
    config_name = _member_name(label, value(label, entry, "Config", where), f"{where} Config")
    config_bytes = source.read_small(config_name, "the image config")
    config_digest = sha256_digest(config_bytes)
    named = _NAMED_BY_DIGEST.fullmatch(config_name)
    if named and f"sha256:{named.group(1)}" != config_digest:
        raise fail(label, f"the image config {config_name} does not match the digest in its "
                   "name (the config was altered)")
    config = parse_config(label, config_bytes, f"the image config {config_name}")
    paths = tuple(
        _member_name(label, raw, f"{where} Layers[{i}]")
        for i, raw in enumerate(get_list(label, entry, "Layers", where))
    )
    if len(paths) != len(config.diff_ids):
        raise fail(label, f"{where} lists {len(paths)} layers but its config lists "
                   f"{len(config.diff_ids)}")
    if value(label, entry, "LayerSources", where) is not None:
        raise fail(label, f"{where} has LayerSources (foreign layers), which the station does "
                   "not import")
    layers = tuple(
        Layer(diff_id, source.file_size(path, f"layer {i} of {config_name}"), DOCKER_LAYER_TAR)
        for i, (path, diff_id) in enumerate(zip(paths, config.diff_ids, strict=True))
    )
    references = _tags(label, entry, where)
    info = ImageInfo(
        references=references,
        platform=config.platform,
        manifest_digest="",
        config_digest=config_digest,
        layers=layers,
        config_size=len(config_bytes),
        created=config.created,
        labels=config.labels,
    )
    record = ImageRecord(info, None, config_name, paths, config.diff_ids, DOCKER_CONFIG)
    return ImageGroup(references, (), None, (record,))


def _repository_tags(source: JsonSource) -> set[str]:
    """Normalised `repo:tag` names from the legacy `repositories` file (absent: none)."""
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
        try:
            tags.update(normalise(f"{repo}:{tag}") for tag in entries)
        except ReferenceError as exc:
            raise fail(source.label, f"the repositories file: {exc.message}") from None
    return tags


def read_docker_groups(source: JsonSource, limits: Limits) -> list[ImageGroup]:
    """Every image manifest.json lists, with tags, platform, config digest and layers.

    The `repositories` file must not name a tag that manifest.json does not give: the two
    disagreeing means the archive was altered, and the operator would see one set of tags
    while another tool applied the other.
    """
    entries = load_json(source.label, source.read_small("manifest.json", "manifest.json"),
                        "manifest.json")
    if entries is None:
        entries = []  # what Go reads `null` as
    if not isinstance(entries, list):
        raise fail(source.label, "manifest.json must be a list of images")
    if len(entries) > limits.max_files:
        raise fail(source.label, f"manifest.json lists more than {limits.max_files} images")
    groups = [_read_entry(source, entry, f"manifest.json[{i}]") for i, entry in enumerate(entries)]
    known = {tag for group in groups for tag in group.references}
    extra = sorted(_repository_tags(source) - known)
    if extra:
        raise fail(source.label, f"the repositories file names {extra[0]} but manifest.json "
                   "does not (the archive is inconsistent)")
    return groups


def blob_hex(path: str) -> str | None:
    """The hex digest a `blobs/sha256/<hex>` member name claims, else None."""
    head, tail = posixpath.split(path)
    return tail if head == "blobs/sha256" and re.fullmatch(r"[0-9a-f]{64}", tail) else None


def with_references(group: ImageGroup, references: tuple[str, ...]) -> ImageGroup:
    """The group with `references` added to what it names (a Docker 25 archive's RepoTags)."""
    merged = tuple(dict.fromkeys(group.references + references))
    return replace(group, references=merged)
