"""Staged bundles for import tests: real images on a media folder, staged by verification.

Images are built with `station.publish.imagebuild` (real, small, deterministic OCI images) or by
skopeo; the folder is signed with a throw-away key and verified by the real pipeline, so a
target sees exactly what it would after a real transfer.
"""

from __future__ import annotations

import hashlib
import io
import subprocess
from pathlib import Path

from station.bundle import open_bundle
from station.publish import minisign_keys
from station.publish.imagebuild import build_oci_layout, write_oci_archive
from station.verify.policy import Policy
from station.verify.staged import StagedBundle
from station.verify.trust import TrustStore
from station.verify.verification import Verification, verify_bundle

APP = "registry.example.org/ops/app:1.2"
DB = "registry.example.org/ops/db:3"
TOOL = "registry.example.org/ops/tool:7"


def sign_media(media: Path) -> Path:
    """Write SHA256SUMS over every file in `media` and sign it; returns the trust folder."""
    keys = media.parent / f"{media.name}-keys"
    if not keys.exists():
        keys.mkdir()
        minisign_keys.generate_keypair("stage", keys)
        (keys / "trust").mkdir()
        (keys / "trust" / "stage.pub").write_bytes((keys / "stage.pub").read_bytes())
    files = sorted(p for p in media.rglob("*") if p.is_file() and not p.name.startswith("SHA256"))
    lines = [f"{_sha256(p)}  {p.relative_to(media).as_posix()}\n" for p in files]
    sums = media / "SHA256SUMS"
    sums.write_text("".join(lines))
    key = minisign_keys.load_secret_key(keys / "stage.key")
    (media / "SHA256SUMS.minisig").write_bytes(
        minisign_keys.sign(sums.read_bytes(), key, trusted_comment="test")
    )
    return keys / "trust"


def _sha256(path: Path) -> str:
    hasher = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1024 * 1024):
            hasher.update(chunk)
    return hasher.hexdigest()


def verify_media(media: Path, staging_root: Path | None = None, *,
                 durable_images: bool = True) -> Verification:
    """Sign what is in `media` and verify it for real (staging it when `staging_root`)."""
    trust = sign_media(media)
    staging_root = staging_root or media.parent / f"{media.name}-staging"
    return verify_bundle(open_bundle(media), TrustStore.load(trust), Policy(),
                         staging_root=staging_root, durable_images=durable_images)


def stage(media: Path, *, durable_images: bool = True) -> StagedBundle:
    """Stage every file in `media` exactly as verification does: the real pipeline."""
    verification = verify_media(media, durable_images=durable_images)
    assert verification.staged is not None, verification.problems
    return verification.staged


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


class Keystream:
    """`size` bytes that do not compress (AES-CTR of zeros, seeded): real layers' content is
    mostly compressed already, so a benchmark must not flatter tools that gzip on the way."""

    def __init__(self, seed: bytes, size: int) -> None:
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

        key = hashlib.sha256(seed).digest()
        self._encryptor = Cipher(algorithms.AES(key), modes.CTR(bytes(16))).encryptor()
        self.left = size

    def read(self, count: int = -1) -> bytes:
        count = self.left if count < 0 else min(count, self.left)
        self.left -= count
        return self._encryptor.update(bytes(count))


def big_docker_archive(tar_path: Path, reference: str, size: int, *,
                       incompressible: bool = False) -> Path:
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
        content = Keystream if incompressible else _Pattern
        layer.addfile(info, content(reference.encode(), size))  # type: ignore[arg-type]
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
