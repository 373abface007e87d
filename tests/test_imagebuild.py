"""imagebuild writes genuine, reproducible OCI images that the station's readers accept."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path

import pytest

from station.bundle.oci import read_oci_layout
from station.config import Limits
from station.errors import UsageError
from station.publish.imagebuild import build_oci_layout, write_oci_archive
from tests.oci_fixtures import sha256

FILES = {"etc/motd": b"welcome\n", "srv/www/index.html": b"<h1>hi</h1>\n"}


def _blob(layout: Path, digest: str) -> bytes:
    return (layout / "blobs" / "sha256" / digest.removeprefix("sha256:")).read_bytes()


def test_same_inputs_give_the_same_digests_and_bytes(tmp_path: Path) -> None:
    first = build_oci_layout(tmp_path / "a", "app:1", FILES, labels={"tier": "web"})
    second = build_oci_layout(tmp_path / "b", "app:1", dict(reversed(FILES.items())),
                              labels={"tier": "web"})
    assert first == second
    write_oci_archive(tmp_path / "a", tmp_path / "a.tar")
    write_oci_archive(tmp_path / "b", tmp_path / "b.tar")
    assert (tmp_path / "a.tar").read_bytes() == (tmp_path / "b.tar").read_bytes()


def test_any_change_in_content_changes_the_digests(tmp_path: Path) -> None:
    base = build_oci_layout(tmp_path / "a", "app:1", FILES)
    changed = build_oci_layout(tmp_path / "b", "app:1", {**FILES, "etc/motd": b"bye\n"})
    relabelled = build_oci_layout(tmp_path / "c", "app:1", FILES, labels={"v": "2"})
    assert changed.layers[0].digest != base.layers[0].digest
    assert relabelled.layers == base.layers
    assert len({base.config_digest, changed.config_digest, relabelled.config_digest}) == 3


def test_layer_holds_the_files_and_config_names_its_diff_id(tmp_path: Path) -> None:
    image = build_oci_layout(tmp_path, "app:1", FILES, architecture="arm64")
    diff = gzip.decompress(_blob(tmp_path, image.layers[0].digest))
    with tarfile.open(fileobj=io.BytesIO(diff)) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert sorted(members) == ["etc", "etc/motd", "srv", "srv/www", "srv/www/index.html"]
        assert all(m.mtime == 0 and m.uid == 0 for m in members.values())
        motd = tar.extractfile("etc/motd")
        assert motd is not None and motd.read() == b"welcome\n"
    config = json.loads(_blob(tmp_path, image.config_digest))
    assert config["rootfs"]["diff_ids"] == [sha256(diff)]
    assert (config["os"], config["architecture"]) == ("linux", "arm64")
    assert image.platform == "linux/arm64"
    manifest = json.loads(_blob(tmp_path, image.manifest_digest))
    assert manifest["config"]["digest"] == image.config_digest


def test_building_again_adds_an_image_and_a_reused_tag_moves(tmp_path: Path) -> None:
    one = build_oci_layout(tmp_path, "app:1", FILES)
    two = build_oci_layout(tmp_path, "app:2", {"x": b"2"})
    assert read_oci_layout(tmp_path, Limits()) == (one, two)
    moved = build_oci_layout(tmp_path, "app:1", {"x": b"1b"})
    assert read_oci_layout(tmp_path, Limits()) == (two, moved)


@pytest.mark.parametrize("name", ["../escape", "/etc/passwd", "a//b", ""])
def test_unsafe_file_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(UsageError, match="cannot put"):
        build_oci_layout(tmp_path, "app:1", {name: b"x"})


def test_a_name_that_is_both_file_and_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="both a file and a folder"):
        build_oci_layout(tmp_path, "app:1", {"etc": b"x", "etc/motd": b"y"})


@pytest.mark.parametrize("reference", ["", "app 1", "-app:1", "app:1\n"])
def test_invalid_references_are_refused(tmp_path: Path, reference: str) -> None:
    with pytest.raises(UsageError, match="not a valid image reference"):
        build_oci_layout(tmp_path, reference, FILES)
