"""Read the images inside image archives and OCI layout folders, strictly read-only.

Three tarball formats are recognised by their content, never by their name:

- `docker save` (Docker before 25): manifest.json + repositories + `<id>.json` configs +
  `<id>/layer.tar`; also what `skopeo copy ... docker-archive:` writes.
- `docker save` (Docker 25 and later): an OCI layout (oci-layout, index.json, blobs/sha256)
  with manifest.json beside it. Both views are read and must describe the same images.
- `oci-archive` (skopeo, buildah): an OCI layout in a tar.

The result is one `ImageInfo` per image and platform. Anything malformed, missing, unsafe or
altered raises `BundleError` naming the archive and the problem.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from station.bundle.archive_tar import TarIndex
from station.bundle.docker_archive import DockerImage, blob_hex, read_docker_images
from station.bundle.model import ImageInfo
from station.bundle.oci_index import read_oci_images
from station.bundle.oci_json import fail
from station.bundle.safety import open_media_file, read_media_file
from station.config import Limits
from station.errors import BundleError


def _merge(images: Iterable[ImageInfo]) -> tuple[ImageInfo, ...]:
    """One entry per image: the same manifest listed under several tags keeps all the tags."""
    merged: dict[tuple[str, str, str], ImageInfo] = {}
    for image in images:
        key = (image.manifest_digest, image.config_digest, image.platform)
        seen = merged.get(key)
        if seen is None:
            merged[key] = image
        else:
            refs = tuple(dict.fromkeys(seen.references + image.references))
            merged[key] = replace(seen, references=refs)
    return tuple(merged.values())


def _combine(label: str, oci: list[ImageInfo], docker: list[DockerImage]) -> list[ImageInfo]:
    """Docker 25+ archives: every manifest.json image must be an index.json image too.

    `docker load` of an older engine follows manifest.json and newer tools index.json; if the
    two differed, the operator would approve one image while another was imported.
    """
    by_config: dict[str, list[int]] = {}
    for position, image in enumerate(oci):
        by_config.setdefault(image.config_digest, []).append(position)
    tags: dict[int, list[str]] = {}
    for entry in docker:
        matches = by_config.get(entry.info.config_digest, [])
        hexes = [blob_hex(path) for path in entry.layer_paths]
        matching = [
            p for p in matches
            if hexes == [layer.digest.removeprefix("sha256:") for layer in oci[p].layers]
        ]
        if not matching:
            raise fail(label, f"manifest.json lists image {entry.info.config_digest} with "
                       "layers that index.json does not describe (the archive is inconsistent)")
        for position in matching:
            tags.setdefault(position, []).extend(entry.info.references)
    return [
        replace(image, references=tuple(dict.fromkeys(image.references + tuple(tags.get(i, ())))))
        for i, image in enumerate(oci)
    ]


def read_image_archive(
    path: Path, limits: Limits, *, display_name: str | None = None
) -> tuple[ImageInfo, ...]:
    """The images in a docker-archive or oci-archive tarball, uncompressed or gzip.

    An uncompressed archive is listed by walking tar headers, seeking over layer data; only
    the small JSON members are read. A gzip archive must be decompressed, so every byte of it
    is read once. `display_name` is how messages name the archive (default: `path`).
    """
    label = display_name or str(path)
    with TarIndex(path, limits, label) as archive:
        has_oci = archive.has_file("oci-layout") or archive.has_file("index.json")
        has_docker = archive.has_file("manifest.json")
        if not has_oci and not has_docker:
            raise fail(label, "is not an image archive: it holds neither manifest.json "
                       "(docker save) nor index.json and oci-layout (OCI)")
        if has_oci:
            oci = read_oci_images(archive, limits)
            if has_docker:
                oci = _combine(label, oci, read_docker_images(archive, limits))
            images = oci
        else:
            images = [entry.info for entry in read_docker_images(archive, limits)]
    if not images:
        raise fail(label, "holds no image")
    return _merge(images)


class _LayoutFolder:
    """An OCI layout folder on the media, read through `station.bundle.safety`."""

    def __init__(self, root: Path, limits: Limits) -> None:
        self.root = root
        self.label = str(root)
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


def read_oci_layout(root: Path, limits: Limits) -> tuple[ImageInfo, ...]:
    """The images in an OCI image layout folder, following multi-platform indexes.

    Links, devices and names that leave the folder are refused; manifests and configs must
    hash to the digest they are stored under; layer blobs must be present with their size.
    """
    if not is_oci_layout(root):
        raise fail(str(root), "is not an OCI image layout (no oci-layout file)")
    images = read_oci_images(_LayoutFolder(root, limits), limits)
    if not images:
        raise fail(str(root), "holds no image")
    return _merge(images)
