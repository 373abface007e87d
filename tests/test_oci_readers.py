"""What the operator sees of the images in an archive or layout, and refusals of bad ones."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from station.bundle.model import ImageInfo
from station.bundle.oci import is_oci_layout, read_image_archive, read_oci_layout
from station.config import Limits
from station.errors import BundleError
from station.publish.imagebuild import build_oci_layout, write_oci_archive
from tests.oci_fixtures import (
    DockerImageSpec,
    add_blob,
    docker_archive_members,
    json_bytes,
    layer_tar,
    layout_members,
    sha256,
    write_holey_tar,
    write_tar,
)

LIMITS = Limits()
APP = "registry.example.org/ops/app:1.2"


@pytest.fixture
def layout(tmp_path: Path) -> tuple[Path, list[ImageInfo]]:
    """A layout with two images, as imagebuild writes it."""
    root = tmp_path / "layout"
    built = [
        build_oci_layout(root, APP, {"etc/app.conf": b"port=80\n"}, labels={"tier": "web"}),
        build_oci_layout(root, "tools:7", {"bin/tool": b"#!/bin/sh\n"}, architecture="arm64"),
    ]
    return root, built


def test_oci_layout_folder_lists_each_image_as_built(layout: tuple[Path, list[ImageInfo]]) -> None:
    root, built = layout
    assert is_oci_layout(root)
    assert list(read_oci_layout(root, LIMITS)) == built
    assert built[1].platform == "linux/arm64"


def test_oci_archive_plain_and_gzip_give_the_same_images(
    layout: tuple[Path, list[ImageInfo]], tmp_path: Path
) -> None:
    root, built = layout
    archive = tmp_path / "images.oci.tar"
    write_oci_archive(root, archive)
    zipped = tmp_path / "images.bin"  # the name says nothing; the content decides
    zipped.write_bytes(gzip.compress(archive.read_bytes()))
    assert list(read_image_archive(archive, LIMITS)) == built
    assert list(read_image_archive(zipped, LIMITS)) == built


def test_legacy_docker_save_archive(tmp_path: Path) -> None:
    base = layer_tar({"etc/os-release": b"ID=demo\n"})
    app = layer_tar({"srv/app": b"x" * 3000})
    specs = [
        DockerImageSpec(["registry.example.org/ops/app:1.2", "app:latest"], [base, app],
                        labels={"tier": "web"}),
        DockerImageSpec(["base:1"], [base], architecture="arm", variant="v7"),
    ]
    archive = write_tar(tmp_path / "save.tar", docker_archive_members(specs))
    first, second = read_image_archive(archive, LIMITS)
    assert first.references == ("registry.example.org/ops/app:1.2", "docker.io/library/app:latest")
    assert first.manifest_digest == ""
    assert first.platform == "linux/amd64"
    assert [layer.digest for layer in first.layers] == [sha256(base), sha256(app)]
    assert [layer.size for layer in first.layers] == [len(base), len(app)]
    assert dict(first.labels) == {"tier": "web"}
    assert first.created == "2025-06-01T12:00:00Z"
    # The second image's layer is a link to the first copy, as docker save writes it.
    assert second.platform == "linux/arm/v7"
    assert second.layers[0].size == len(base)
    assert second.config_digest == sha256(docker_archive_members(specs[1:])[0].data)


def test_docker_25_archive_reads_both_views_and_merges_tags(
    layout: tuple[Path, list[ImageInfo]], tmp_path: Path
) -> None:
    root, built = layout
    members = _docker25_members(root, built, tags=[["app:latest"], ["tools:7"]])
    images = read_image_archive(write_tar(tmp_path / "d25.tar", members), LIMITS)
    assert images[0].references == (APP, "docker.io/library/app:latest")
    assert images[0].manifest_digest == built[0].manifest_digest
    assert images[1] == built[1]


def test_docker_25_archive_with_an_image_only_index_json_names_is_refused(
    layout: tuple[Path, list[ImageInfo]], tmp_path: Path
) -> None:
    root, built = layout
    members = _docker25_members(root, built[:1], tags=[["app:latest"]])
    with pytest.raises(BundleError, match=r"manifest\.json does not"):
        read_image_archive(write_tar(tmp_path / "d25.tar", members), LIMITS)


def test_docker_25_archive_whose_two_views_disagree_is_refused(
    layout: tuple[Path, list[ImageInfo]], tmp_path: Path
) -> None:
    root, built = layout
    members = _docker25_members(root, built, tags=[["app:latest"], []])
    manifest = json.loads(members["manifest.json"])
    manifest[0]["Layers"] = ["blobs/sha256/" + built[1].layers[0].digest.removeprefix("sha256:")]
    members["manifest.json"] = json.dumps(manifest).encode()
    with pytest.raises(BundleError, match=r"index\.json does not describe"):
        read_image_archive(write_tar(tmp_path / "d25.tar", members), LIMITS)


def _docker25_members(root: Path, images: list[ImageInfo], tags: list[list[str]]
                      ) -> dict[str, bytes]:
    members = layout_members(root)
    entries = [{
        "Config": "blobs/sha256/" + image.config_digest.removeprefix("sha256:"),
        "RepoTags": names,
        "Layers": ["blobs/sha256/" + layer.digest.removeprefix("sha256:")
                   for layer in image.layers],
    } for image, names in zip(images, tags, strict=True)]
    members["manifest.json"] = json.dumps(entries).encode()
    return members


def _multi_platform(tmp_path: Path, drop_arm: bool = False) -> dict[str, bytes]:
    """Two platforms of one image behind an image index, tagged once at the top."""
    amd = build_oci_layout(tmp_path / "amd", "x", {"a": b"amd"})
    arm = build_oci_layout(tmp_path / "arm", "x", {"a": b"arm"}, architecture="arm64")
    members = {**layout_members(tmp_path / "amd"), **layout_members(tmp_path / "arm")}
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            _descriptor(image, members, {"os": "linux", "architecture": arch})
            for image, arch in ((amd, "amd64"), (arm, "arm64"))
        ]
        + [_attestation(members)],
    }
    if drop_arm:
        del members["blobs/sha256/" + arm.manifest_digest.removeprefix("sha256:")]
    index_bytes = json_bytes(index)
    members["index.json"] = json_bytes({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": add_blob(members, index_bytes),
            "size": len(index_bytes),
            "annotations": {"io.containerd.image.name": "docker.io/library/multi:2",
                            "org.opencontainers.image.ref.name": "2"},
        }],
    })
    return members


def _descriptor(image: ImageInfo, members: dict[str, bytes], platform: dict[str, str]
                ) -> dict[str, object]:
    size = len(members["blobs/sha256/" + image.manifest_digest.removeprefix("sha256:")])
    return {"mediaType": image.media_type, "digest": image.manifest_digest, "size": size,
            "platform": platform}


def _attestation(members: dict[str, bytes]) -> dict[str, object]:
    """An attestation entry as buildx writes it; its blob is not even needed."""
    return {"mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": sha256(b"attestation"), "size": 11,
            "annotations": {"vnd.docker.reference.type": "attestation-manifest"},
            "platform": {"os": "unknown", "architecture": "unknown"}}


def test_multi_platform_index_gives_one_image_per_platform(tmp_path: Path) -> None:
    archive = write_tar(tmp_path / "multi.tar", _multi_platform(tmp_path))
    images = read_image_archive(archive, LIMITS)
    assert [image.platform for image in images] == ["linux/amd64", "linux/arm64"]
    # The bare tag only repeats the full name's tag, so the full name stands alone.
    assert {image.references for image in images} == {("docker.io/library/multi:2",)}


def test_platforms_absent_from_the_media_are_left_out(tmp_path: Path) -> None:
    archive = write_tar(tmp_path / "multi.tar", _multi_platform(tmp_path, drop_arm=True))
    assert [image.platform for image in read_image_archive(archive, LIMITS)] == ["linux/amd64"]


def test_bare_ref_name_is_no_name_and_shared_manifest_merges_names(tmp_path: Path) -> None:
    root = tmp_path / "layout"
    image = build_oci_layout(root, "1.2", {"a": b"a"})
    index = json.loads((root / "index.json").read_bytes())
    again = dict(index["manifests"][0], annotations={
        "org.opencontainers.image.ref.name": "registry.example.org/ops/app:latest"})
    index["manifests"].append(again)
    (root / "index.json").write_bytes(json_bytes(index))
    (only,) = read_oci_layout(root, LIMITS)
    assert only.references == ("registry.example.org/ops/app:latest",)
    assert only.manifest_digest == image.manifest_digest


def _rchar() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar in /proc/self/io")


def test_listing_an_uncompressed_archive_does_not_read_layer_data(tmp_path: Path) -> None:
    """A 4 GiB layer (a hole in a sparse file) is seeked over, never read."""
    big = 4 * 1024**3
    spec = DockerImageSpec(["big:1"], [b"placeholder"])
    members = docker_archive_members([spec])
    for member in members:
        if member.name.endswith("/layer.tar"):
            member.data, member.size = b"", big
    archive = write_holey_tar(tmp_path / "big.tar", members)
    assert archive.stat().st_size > big
    before = _rchar()
    (image,) = read_image_archive(archive, LIMITS)
    read = _rchar() - before
    assert image.layers[0].size == big
    assert read < 256 * 1024, f"read {read} bytes to list a {big}-byte archive"


def test_is_oci_layout_needs_a_real_folder_with_the_marker(
    layout: tuple[Path, list[ImageInfo]], tmp_path: Path
) -> None:
    root, _ = layout
    link = tmp_path / "link"
    link.symlink_to(root)
    assert not is_oci_layout(link)
    assert not is_oci_layout(tmp_path)
    assert not is_oci_layout(root / "index.json")
