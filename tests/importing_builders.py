"""Staged bundles for import tests: real images in a staging folder, described as verify does.

Images are built with `station.imagebuild` (real, small, deterministic OCI images) and read
back with the same readers verification uses, so a target sees exactly what it would after
a real verification.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

from station.bundle.model import Entry, Item, ItemKind
from station.bundle.oci import read_image_archive, read_oci_layout
from station.config import Limits
from station.imagebuild import build_oci_layout, write_oci_archive
from station.importing.base import StagedBundle

APP = "registry.example.org/ops/app:1.2"
DB = "registry.example.org/ops/db:3"
TOOL = "registry.example.org/ops/tool:7"


def _entries(root: Path, path: Path) -> tuple[Entry, ...]:
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return tuple(
        Entry(
            p.relative_to(root).as_posix(),
            hashlib.sha256(p.read_bytes()).hexdigest(),
            p.stat().st_size,
        )
        for p in files
    )


def stage(root: Path, digest_seed: str = "bundle") -> StagedBundle:
    """Describe every top-level thing in `root` as verification would after staging it."""
    items = []
    limits = Limits()
    for path in sorted(root.iterdir()):
        name = path.name
        if path.is_dir():
            kind, images = ItemKind.OCI_LAYOUT, read_oci_layout(path, limits)
        elif name.endswith(".tar"):
            kind, images = ItemKind.IMAGE_ARCHIVE, read_image_archive(path, limits)
        else:
            kind, images = ItemKind.FILE, ()
        items.append(Item(name, kind, _entries(root, path), images=images))
    digest = "sha256:" + hashlib.sha256(digest_seed.encode()).hexdigest()
    return StagedBundle(digest=digest, root=root, items=tuple(items))


def oci_layout(dest: Path, images: dict[str, int]) -> Path:
    """An OCI layout with one image per reference, each holding `size` bytes of data."""
    for reference, size in images.items():
        data = hashlib.sha256(reference.encode()).digest() * (size // 32 + 1)
        build_oci_layout(dest, reference, {"data.bin": data[:size], "name": reference.encode()})
    return dest


def oci_archive(work: Path, tar_path: Path, images: dict[str, int]) -> Path:
    layout = oci_layout(work / (tar_path.name + ".layout"), images)
    write_oci_archive(layout, tar_path)
    return tar_path


def docker_archive(work: Path, tar_path: Path, reference: str, size: int) -> Path:
    """A legacy docker-archive (what `docker save` of Docker 20.10 writes), made by skopeo."""
    layout = oci_layout(work / (tar_path.name + ".layout"), {reference: size})
    subprocess.run(
        ["skopeo", "copy", "--quiet", f"oci:{layout}:{reference}",
         f"docker-archive:{tar_path}:{reference}"],
        check=True,
    )
    return tar_path
