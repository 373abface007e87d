"""skopeo, the reference OCI tool, accepts what imagebuild writes, and the station's readers
see in skopeo's docker-archive and oci-archive output the images that went in."""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from station.bundle.model import ImageInfo
from station.bundle.oci import read_image_archive
from station.config import Limits
from station.publish.imagebuild import build_oci_layout
from tests.oci_fixtures import Member, sha256, write_tar

SKOPEO = shutil.which("skopeo")
# The reason is printed in pytest's summary (-ra is in the default options).
pytestmark = [
    pytest.mark.real,
    pytest.mark.skipif(SKOPEO is None, reason="skopeo is not installed (Debian: skopeo)"),
]

LIMITS = Limits()
APP = "registry.example.org/ops/app:1.2"
TOOLS = "registry.example.org/ops/tools:7"


def skopeo(*args: str) -> str:
    result = subprocess.run(
        [SKOPEO or "skopeo", "--insecure-policy", *args],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, f"skopeo {' '.join(args)} failed: {result.stderr}"
    return result.stdout


@pytest.fixture
def layout(tmp_path: Path) -> tuple[Path, ImageInfo, ImageInfo]:
    root = tmp_path / "layout"
    app = build_oci_layout(root, APP, {"srv/app": b"app v1.2\n"}, labels={"tier": "web"})
    tools = build_oci_layout(root, TOOLS, {"bin/tool": b"tool\n"}, architecture="arm64")
    return root, app, tools


def _diff_ids(layout: Path, image: ImageInfo) -> list[str]:
    config = layout / "blobs" / "sha256" / image.config_digest.removeprefix("sha256:")
    return list(json.loads(config.read_bytes())["rootfs"]["diff_ids"])


def test_skopeo_inspect_accepts_what_imagebuild_wrote(
    layout: tuple[Path, ImageInfo, ImageInfo],
) -> None:
    root, app, tools = layout
    seen = json.loads(skopeo("inspect", f"oci:{root}:{APP}"))
    assert seen["Digest"] == app.manifest_digest
    assert (seen["Os"], seen["Architecture"]) == ("linux", "amd64")
    assert seen["Labels"] == {"tier": "web"}
    assert seen["Layers"] == [layer.digest for layer in app.layers]
    other = json.loads(skopeo("inspect", f"oci:{root}:{TOOLS}"))
    assert (other["Digest"], other["Architecture"]) == (tools.manifest_digest, "arm64")


def test_skopeo_docker_archive_reads_back(
    layout: tuple[Path, ImageInfo, ImageInfo], tmp_path: Path
) -> None:
    root, app, _ = layout
    out = tmp_path / "app.tar"
    skopeo("copy", "--additional-tag", "app:latest", f"oci:{root}:{APP}",
           f"docker-archive:{out}:{APP}")
    (image,) = read_image_archive(out, LIMITS)
    zipped = tmp_path / "app.tar.gz"  # as `docker save | gzip` would hand it over
    zipped.write_bytes(gzip.compress(out.read_bytes()))
    assert read_image_archive(zipped, LIMITS) == (image,)
    # skopeo writes the extra tag fully qualified; the reader keeps tags as written.
    assert image.references == (APP, "docker.io/library/app:latest")
    assert image.config_digest == app.config_digest
    assert image.platform == "linux/amd64"
    assert image.manifest_digest == ""  # a docker archive carries no registry manifest
    # Layers are stored uncompressed: digests are the diff_ids, sizes the tar members'.
    assert [layer.digest for layer in image.layers] == _diff_ids(root, app)
    with tarfile.open(out) as tar:
        sizes = {m.name: m.size for m in tar.getmembers()}
    assert [layer.size for layer in image.layers] == [
        sizes[layer.digest.removeprefix("sha256:") + ".tar"] for layer in image.layers
    ]


def test_skopeo_oci_archive_reads_back(
    layout: tuple[Path, ImageInfo, ImageInfo], tmp_path: Path
) -> None:
    root, app, _ = layout
    out = tmp_path / "app.oci.tar"
    skopeo("copy", f"oci:{root}:{APP}", f"oci-archive:{out}:{APP}")
    assert read_image_archive(out, LIMITS) == (app,)


def _merge_docker_archives(parts: list[Path], dest: Path) -> Path:
    """One archive holding the images of several, as `docker save a b` writes it."""
    members: dict[str, Member] = {}
    manifest: list[object] = []
    repositories: dict[str, dict[str, str]] = {}
    for part in parts:
        with tarfile.open(part) as tar:
            for info in tar.getmembers():
                data = tar.extractfile(info).read() if info.isfile() else b""  # type: ignore[union-attr]
                if info.name == "manifest.json":
                    manifest.extend(json.loads(data))
                elif info.name == "repositories":
                    for repo, tags in json.loads(data).items():
                        repositories.setdefault(repo, {}).update(tags)
                else:
                    members[info.name] = Member(info.name, data, info.type, info.linkname)
    members["manifest.json"] = Member("manifest.json", json.dumps(manifest).encode())
    members["repositories"] = Member("repositories", json.dumps(repositories).encode())
    return write_tar(dest, list(members.values()))


def test_multi_image_docker_archive(
    layout: tuple[Path, ImageInfo, ImageInfo], tmp_path: Path
) -> None:
    root, app, tools = layout
    parts = []
    for reference in (APP, TOOLS):
        part = tmp_path / f"{sha256(reference.encode())[7:19]}.tar"
        skopeo("copy", f"oci:{root}:{reference}", f"docker-archive:{part}:{reference}")
        parts.append(part)
    merged = _merge_docker_archives(parts, tmp_path / "both.tar")
    # skopeo itself reads the merged archive, so it is a genuine multi-image docker archive.
    second = json.loads(skopeo("inspect", f"docker-archive:{merged}:@1"))
    assert second["Architecture"] == "arm64"
    images = read_image_archive(merged, LIMITS)
    assert [(i.references, i.platform, i.config_digest) for i in images] == [
        ((APP,), "linux/amd64", app.config_digest),
        ((TOOLS,), "linux/arm64", tools.config_digest),
    ]
    assert [layer.digest for layer in images[1].layers] == second["Layers"]
