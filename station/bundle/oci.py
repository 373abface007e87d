"""Read the images inside image archives and OCI layout folders, strictly read-only.

Three tarball formats are recognised by their content, never by their name:

- `docker save` (Docker before 25): manifest.json + repositories + `<id>.json` configs +
  `<id>/layer.tar`; also what `skopeo copy ... docker-archive:` writes.
- `docker save` (Docker 25 and later): an OCI layout (oci-layout, index.json, blobs/sha256)
  with manifest.json beside it. Both views are read and must describe the same images.
- `oci-archive` (skopeo, buildah): an OCI layout in a tar.

Each may be compressed (gzip, bzip2, xz, zstd). Archives are read by the strict tar reader
(`strict_tar`), JSON by the strict loader (`strict_json`). The result is one `ImageGroup`
per named entry (one image, or the platforms of a multi-platform index). Anything
malformed, missing, unsafe or altered raises `BundleError` naming the archive and the problem.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from station.bundle import skopeo_dir
from station.bundle.docker_archive import blob_hex, read_docker_groups, with_references
from station.bundle.members import list_archive
from station.bundle.model import AttachedSignature, ImageGroup, ImageInfo
from station.bundle.oci_index import read_oci_groups
from station.bundle.oci_json import JsonSource, fail
from station.bundle.safety import open_media_file, read_media_file
from station.config import Limits
from station.errors import BundleError


@dataclass(frozen=True)
class ItemImages:
    """The image groups of one archive or layout, and notes on what was skipped."""

    groups: tuple[ImageGroup, ...]
    notes: tuple[str, ...] = ()
    signatures: tuple[AttachedSignature, ...] = ()

    @property
    def images(self) -> tuple[ImageInfo, ...]:
        return images_of(self.groups)


def images_of(groups: Iterable[ImageGroup]) -> tuple[ImageInfo, ...]:
    """Every image of the groups once, carrying the references of its group."""
    merged: dict[tuple[str, str, str], ImageInfo] = {}
    for group in groups:
        for record in group.images:
            image = replace(record.info, references=group.references)
            key = (image.manifest_digest, image.config_digest, image.platform)
            seen = merged.get(key)
            if seen is None:
                merged[key] = image
            else:
                refs = tuple(dict.fromkeys(seen.references + image.references))
                merged[key] = replace(seen, references=refs)
    return tuple(merged.values())


def _group_key(group: ImageGroup) -> str:
    if group.top is not None:
        return group.top.digest
    return group.images[0].info.config_digest


def merge_groups(groups: Iterable[ImageGroup]) -> tuple[ImageGroup, ...]:
    """One group per entry: the same manifest or index listed under several names is one."""
    merged: dict[str, ImageGroup] = {}
    for group in groups:
        key = _group_key(group)
        seen = merged.get(key)
        if seen is None:
            merged[key] = group
        else:
            merged[key] = replace(
                seen,
                references=tuple(dict.fromkeys(seen.references + group.references)),
                tags=tuple(dict.fromkeys(seen.tags + group.tags)),
            )
    return tuple(merged.values())


def _combine(label: str, oci: list[ImageGroup], docker: list[ImageGroup]) -> list[ImageGroup]:
    """Docker 25+ archives: manifest.json and index.json must name the same images.

    `docker load` of the classic image store follows manifest.json, OCI tools index.json; if
    the two differed, the operator would approve one image while a tool saw another. An
    index.json that lists nothing (`"manifests": null`) leaves manifest.json as the only view.
    """
    if not oci:
        return docker
    if not docker:
        raise fail(label, "manifest.json lists no image but index.json does (the archive is "
                   "inconsistent)")
    where: dict[tuple[str, tuple[str, ...]], int] = {}
    for position, group in enumerate(oci):
        for record in group.images:
            layers = tuple(layer.digest.removeprefix("sha256:") for layer in record.info.layers)
            where[(record.info.config_digest, layers)] = position
    tags: dict[int, list[str]] = {}
    for entry in docker:
        record = entry.images[0]
        hexes = tuple(blob_hex(path) or "" for path in record.layer_members)
        found = where.get((record.info.config_digest, hexes))
        if found is None:
            raise fail(label, f"manifest.json lists image {record.info.config_digest} with "
                       "layers that index.json does not describe (the archive is inconsistent)")
        tags.setdefault(found, []).extend(entry.references)
    unmatched = [g for i, g in enumerate(oci) if i not in tags]
    if unmatched:
        raise fail(label, f"index.json lists {_group_key(unmatched[0])} but manifest.json does "
                   "not (the archive is inconsistent)")
    return [with_references(group, tuple(tags[i])) for i, group in enumerate(oci)]


def read_groups(source: JsonSource, limits: Limits) -> ItemImages:
    """The image groups of an archive's members or a layout folder (see the module doc)."""
    label = source.label
    has_oci = source.has_file("oci-layout") or source.has_file("index.json")
    has_docker = source.has_file("manifest.json")
    if not has_oci and not has_docker:
        raise fail(label, "is not an image archive: it holds neither manifest.json "
                   "(docker save) nor index.json and oci-layout (OCI)")
    notes: list[str] = []
    signatures: list[AttachedSignature] = []
    if has_oci:
        groups, notes, signatures = read_oci_groups(source, limits)
        if has_docker:
            groups = _combine(label, groups, read_docker_groups(source, limits))
    else:
        groups = read_docker_groups(source, limits)
    if not groups:
        why = f" ({notes[0]})" if notes else ""
        raise fail(label, f"holds no image{why}")
    return ItemImages(merge_groups(groups), tuple(notes), tuple(signatures))


def read_archive_fd(fd: int, limits: Limits, label: str) -> ItemImages:
    """The images of the archive open at `fd` (inspection: layer data is not read)."""
    members = list_archive(fd, label=label, limits=limits)
    markers = members.top_level_markers()
    if not markers:
        raise fail(label, "is not an image archive: it holds neither manifest.json "
                   "(docker save) nor index.json and oci-layout (OCI)")
    return read_groups(members, limits)


def read_image_archive(
    path: Path, limits: Limits, *, display_name: str | None = None
) -> tuple[ImageInfo, ...]:
    """The images in a docker-archive or oci-archive tarball (any supported compression)."""
    label = display_name or str(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        raise fail(label, f"cannot open the archive: {exc.strerror}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise fail(label, "is not a regular file")
        os.set_blocking(fd, True)
        return read_archive_fd(fd, limits, label).images
    finally:
        os.close(fd)


class LayoutFolder:
    """An OCI layout folder on the media, read through `station.bundle.safety`."""

    def __init__(self, root: Path, limits: Limits, label: str | None = None) -> None:
        self.root = root
        self.label = label or str(root)
        self._limits = limits
        self._budget = limits.max_archive_index_bytes

    def read_small(self, name: str, what: str) -> bytes:
        cap = self._limits.max_archive_index_bytes
        try:
            data = read_media_file(self.root, name, max_size=min(cap, self._budget))
        except FileNotFoundError:
            raise fail(self.label, f"{what} ({name}) is missing") from None
        except BundleError as exc:
            raise type(exc)(f"{self.label}: {what}: {exc.message}", hint=exc.hint) from None
        except OSError as exc:
            raise fail(self.label, f"cannot read {what} ({name}): {exc.strerror}") from None
        self._budget -= len(data)
        return data

    def file_size(self, name: str, what: str) -> int:
        try:
            with open_media_file(self.root, name, max_size=self._limits.max_file_bytes) as f:
                return f.size
        except FileNotFoundError:
            raise fail(self.label, f"{what} ({name}) is missing") from None
        except BundleError as exc:
            raise type(exc)(f"{self.label}: {what}: {exc.message}", hint=exc.hint) from None
        except OSError as exc:
            raise fail(self.label, f"cannot open {what} ({name}): {exc.strerror}") from None

    def has_file(self, name: str) -> bool:
        try:
            os.stat(self.root / name, follow_symlinks=False)
        except OSError:
            return False
        return True


def is_oci_layout(root: Path) -> bool:
    """Whether `root` is a folder (not a link) holding an `oci-layout` regular file."""
    try:
        if not stat.S_ISDIR(os.lstat(root).st_mode):
            return False
        return stat.S_ISREG(os.lstat(root / "oci-layout").st_mode)
    except OSError:
        return False


def read_layout_groups(root: Path, limits: Limits, label: str | None = None) -> ItemImages:
    """The image groups of an OCI layout folder, or a skopeo `dir:` folder, on the media
    (inspection)."""
    folder = LayoutFolder(root, limits, label)
    if is_oci_layout(root):
        return read_groups(folder, limits)
    if folder.has_file(skopeo_dir.MANIFEST_FILE) and folder.has_file(skopeo_dir.VERSION_FILE):
        found = read_groups(skopeo_dir.SkopeoDirFolder(folder), limits)
        notes = skopeo_dir.notes(frozenset(os.listdir(root)))
        return replace(found, notes=found.notes + tuple(notes))
    raise fail(label or str(root), "is not an OCI image layout (no oci-layout file) nor a "
               "skopeo dir: folder (no manifest.json and version)")


def read_oci_layout(root: Path, limits: Limits) -> tuple[ImageInfo, ...]:
    """The images in an OCI image layout folder, following multi-platform indexes."""
    return read_layout_groups(root, limits).images
