"""A USB stick made real: a signed bundle in an ext4 image on a loop device."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from station.media.mounts import existing_mounts
from station.publish.imagebuild import build_oci_layout, write_oci_archive
from tests.builders import Signer, make_sums_bundle

LOOP_TOOLS = ("losetup", "mkfs.ext4", "blockdev", "mount", "umount")


def missing_loop_tools() -> list[str]:
    return [t for t in LOOP_TOOLS if shutil.which(t) is None]


def run(*argv: str) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout.strip()


def bundle_image(tmp_path: Path, signer: Signer, payload: int = 0) -> Path:
    """An ext4 image holding a signed bundle (an OCI archive, a file and, with `payload`,
    a file of that many bytes), filled by mkfs itself so it was never mounted writable."""
    content = tmp_path / "content"
    layout = tmp_path / "layout"
    build_oci_layout(layout, "registry.local/app:1.0", {"app/hello.txt": b"hello\n"})
    write_oci_archive(layout, tmp_path / "app.oci.tar")
    files = {
        "app.oci.tar": (tmp_path / "app.oci.tar").read_bytes(),
        "docs/readme.txt": b"read me\n" * 1000,
    }
    if payload:
        files["payload.bin"] = bytes(range(256)) * (payload // 256)
    make_sums_bundle(content, files, signer)
    image = tmp_path / "stick.img"
    run("mkfs.ext4", "-q", "-F", "-L", "TRANSFER", "-d", str(content), str(image), "24M")
    return image


@contextmanager
def attached(image: Path) -> Iterator[str]:
    """The image on a fresh loop device; unmounted and detached afterwards, whatever happens."""
    device = run("losetup", "-f", "--show", str(image))
    try:
        run("blockdev", "--setrw", device)  # a reused loop device may keep an earlier ro flag
        yield device
    finally:
        for part in existing_mounts(device):
            subprocess.run(["umount", "-l", part.mountpoint], check=False)
        subprocess.run(["losetup", "-d", device], check=False)
