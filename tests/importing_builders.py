"""Staged bundles for import tests: real images in a staging folder, described as verify does.

Images are built with `station.imagebuild` (real, small, deterministic OCI images) and read
back with the same readers verification uses, so a target sees exactly what it would after
a real verification.
"""

from __future__ import annotations

import hashlib
import io
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
    return tuple(Entry(p.relative_to(root).as_posix(), _sha256(p), p.stat().st_size) for p in files)


def _sha256(path: Path) -> str:
    hasher = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1024 * 1024):
            hasher.update(chunk)
    return hasher.hexdigest()


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


class _Pattern:
    """`size` bytes of a seeded pattern, read like a file, never all in memory."""

    def __init__(self, seed: bytes, size: int) -> None:
        block = b"".join(hashlib.sha256(seed + bytes([i])).digest() for i in range(256))
        self.block = block * (1024 * 1024 // len(block))
        self.left = size

    def read(self, count: int = -1) -> bytes:
        count = self.left if count < 0 else min(count, self.left)
        if count <= len(self.block):
            out = self.block[:count]
        else:
            out = (self.block * (count // len(self.block) + 1))[:count]
        self.left -= count
        return out


def big_docker_archive(tar_path: Path, reference: str, size: int) -> Path:
    """A legacy docker-archive whose one uncompressed layer holds `size` bytes, streamed.

    For tests and benchmarks that need big images fast: nothing is compressed and nothing is
    held in memory. `docker load` and skopeo accept it as they accept `docker save` output.
    """
    import json
    import tarfile

    layer_path = tar_path.with_name(tar_path.name + ".layer")
    with tarfile.open(layer_path, "w", format=tarfile.PAX_FORMAT) as layer:
        info = tarfile.TarInfo("data.bin")
        info.size = size
        info.mode = 0o644
        layer.addfile(info, _Pattern(reference.encode(), size))  # type: ignore[arg-type]
    hasher = hashlib.sha256()
    with open(layer_path, "rb") as handle:
        while chunk := handle.read(1024 * 1024):
            hasher.update(chunk)
    diff_id = "sha256:" + hasher.hexdigest()
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "created": "2026-01-01T00:00:00Z",
            "config": {"Labels": {"test": reference}},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        },
        sort_keys=True,
    ).encode()
    config_hex = hashlib.sha256(config).hexdigest()
    layer_id = diff_id.removeprefix("sha256:")
    manifest = json.dumps(
        [{"Config": f"{config_hex}.json", "RepoTags": [reference],
          "Layers": [f"{layer_id}/layer.tar"]}]
    ).encode()
    with tarfile.open(tar_path, "w", format=tarfile.PAX_FORMAT) as out:
        for name, data in ((f"{config_hex}.json", config), ("manifest.json", manifest)):
            member = tarfile.TarInfo(name)
            member.size = len(data)
            out.addfile(member, io.BytesIO(data))
        out.add(layer_path, arcname=f"{layer_id}/layer.tar")
    layer_path.unlink()
    return tar_path
