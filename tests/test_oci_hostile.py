"""Hostile archives and layouts: each is refused with a BundleError naming it and the problem.

Every case starts from a valid image and changes one thing. OCI cases run three ways (a tar,
a gzip tar and a folder), since the same check must hold whichever way the layout arrives.
"""

from __future__ import annotations

import bz2
import gzip
import json
import os
import random
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from station.bundle.model import ImageInfo
from station.bundle.oci import read_image_archive, read_oci_layout
from station.config import Limits
from station.errors import BundleError, UnsafePathError
from station.publish.imagebuild import build_oci_layout
from tests.oci_fixtures import (
    DockerImageSpec,
    Member,
    add_blob,
    blob_json,
    docker_archive_members,
    json_bytes,
    layer_tar,
    layout_members,
    replace_json_blob,
    sha256,
    write_tar,
)

LIMITS = Limits()
Members = dict[str, bytes]


def _valid(tmp_path: Path) -> tuple[Members, ImageInfo]:
    info = build_oci_layout(tmp_path / "src", "app:1", {"etc/app.conf": b"port=80\n"})
    return layout_members(tmp_path / "src"), info


def _index(m: Members) -> dict[str, Any]:
    return json.loads(m["index.json"])


def _set_descriptor(m: Members, **fields: Any) -> None:
    index = _index(m)
    index["manifests"][0].update(fields)
    m["index.json"] = json_bytes(index)


def _edit_manifest(m: Members, info: ImageInfo, change: Callable[[dict[str, Any]], None]) -> None:
    """Change the manifest and store it, correctly addressed, so only the change is wrong."""
    manifest = blob_json(m, info.manifest_digest)
    change(manifest)
    digest, size = replace_json_blob(m, info.manifest_digest, manifest)
    _set_descriptor(m, digest=digest, size=size)


def _edit_config(m: Members, info: ImageInfo, change: Callable[[dict[str, Any]], None]) -> None:
    config = blob_json(m, info.config_digest)
    change(config)
    digest, size = replace_json_blob(m, info.config_digest, config)
    _edit_manifest(m, info, lambda manifest: manifest["config"].update(digest=digest, size=size))


def _blob(digest: str) -> str:
    return "blobs/sha256/" + digest.removeprefix("sha256:")


def _nest(m: Members, depth: int) -> None:
    """Wrap the top entry of index.json in `depth` image indexes, one inside the other."""
    descriptor = _index(m)["manifests"][0]
    for _ in range(depth):
        data = json_bytes({"schemaVersion": 2, "manifests": [descriptor],
                           "mediaType": "application/vnd.oci.image.index.v1+json"})
        descriptor = {"mediaType": "application/vnd.oci.image.index.v1+json",
                      "digest": add_blob(m, data), "size": len(data)}
    m["index.json"] = json_bytes({"schemaVersion": 2, "manifests": [descriptor]})


def _self_reference(m: Members, info: ImageInfo) -> None:
    fake = sha256(b"loop")
    m[_blob(fake)] = json_bytes({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": fake, "size": 10}]})
    _set_descriptor(m, mediaType="application/vnd.oci.image.index.v1+json", digest=fake,
                    size=len(m[_blob(fake)]))


def _tamper(m: Members, digest: str) -> None:
    m[_blob(digest)] = m[_blob(digest)].replace(b"2", b"3", 1)


OCI_CASES: dict[str, tuple[Callable[[Members, ImageInfo], None], str]] = {
    "malformed index.json": (lambda m, i: m.update({"index.json": b"{not json"}),
                             "index.json is not valid JSON"),
    "missing index.json": (lambda m, i: m.pop("index.json"), r"index.json .*missing"),
    "wrong layout version": (lambda m, i: m.update({"oci-layout": b'{"imageLayoutVersion":"9"}'}),
                             "version '9' is not supported"),
    "duplicate JSON key": (lambda m, i: m.update(
        {"index.json": b'{"schemaVersion":2,"manifests":[],"manifests":[]}'}), "duplicate key"),
    "deeply nested JSON": (lambda m, i: m.update({"index.json": b"[" * 100_000 + b"]" * 100_000}),
                           "nested too deeply"),
    "manifest blob absent": (lambda m, i: m.pop(_blob(i.manifest_digest)),
                             r"manifest sha256:\w+ .*missing"),
    "layer blob absent": (lambda m, i: m.pop(_blob(i.layers[0].digest)),
                          r"layer sha256:\w+ .*missing"),
    "manifest altered": (lambda m, i: _tamper(m, i.manifest_digest),
                         "manifest sha256:.* does not match its digest"),
    "config altered": (lambda m, i: _tamper(m, i.config_digest),
                       "config sha256:.* does not match its digest"),
    "sha512 digest": (lambda m, i: _set_descriptor(m, digest="sha512:" + "ab" * 64),
                      "digest algorithm 'sha512' is not supported"),
    "uppercase digest": (lambda m, i: _set_descriptor(m, digest=i.manifest_digest.upper()
                                                      .replace("SHA256", "sha256")),
                         "is not a sha256 digest"),
    "size not a number": (lambda m, i: _set_descriptor(m, size="401"),
                          "'size' must be a whole number"),
    "absurd config size": (lambda m, i: _edit_manifest(
        m, i, lambda x: x["config"].update(size=2**62)), "4611686018427387904 is too large"),
    "layer size differs": (lambda m, i: _edit_manifest(
        m, i, lambda x: x["layers"][0].update(size=x["layers"][0]["size"] + 1)),
        "not the .* its manifest declares"),
    "layers and diff_ids differ": (lambda m, i: _edit_config(
        m, i, lambda c: c["rootfs"]["diff_ids"].append(i.layers[0].digest)),
        "lists 1 layers but its config lists 2"),
    "platform differs from config": (lambda m, i: _set_descriptor(
        m, platform={"os": "linux", "architecture": "arm64"}),
        "lists platform linux/arm64 but its config says linux/amd64"),
    "config without os": (lambda m, i: _edit_config(m, i, lambda c: c.pop("os")),
                          "'os' must be a string"),
    "not an image (artifact)": (lambda m, i: _edit_manifest(
        m, i, lambda x: x["config"].update(mediaType="application/vnd.cncf.helm.config.v1+json")),
        "holds no image .*is a Helm chart.*, not a container image"),
    "unknown descriptor type": (lambda m, i: _set_descriptor(m, mediaType="text/plain"),
                                "holds no image .*of type 'text/plain', not an image"),
    "indexes nested too deep": (lambda m, i: _nest(m, 6), "nested more than 4 levels"),
    "index that names itself": (_self_reference, "does not match its digest"),
}


def _as_folder(tmp_path: Path, m: Members) -> tuple[Path, Callable[[], object]]:
    root = tmp_path / "layout"
    for name, data in m.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root, lambda: read_oci_layout(root, LIMITS)


def _as_tar(tmp_path: Path, m: Members) -> tuple[Path, Callable[[], object]]:
    archive = write_tar(tmp_path / "image.tar", m)
    return archive, lambda: read_image_archive(archive, LIMITS)


def _as_gzip(tmp_path: Path, m: Members) -> tuple[Path, Callable[[], object]]:
    archive, _ = _as_tar(tmp_path, m)
    zipped = tmp_path / "image.tar.gz"
    zipped.write_bytes(gzip.compress(archive.read_bytes()))
    return zipped, lambda: read_image_archive(zipped, LIMITS)


@pytest.mark.parametrize("form", [_as_tar, _as_gzip, _as_folder], ids=["tar", "gzip", "folder"])
@pytest.mark.parametrize("case", sorted(OCI_CASES))
def test_hostile_oci_layout_is_refused(tmp_path: Path, case: str, form: Any) -> None:
    members, info = _valid(tmp_path)
    change, expected = OCI_CASES[case]
    (tmp_path / "ok").mkdir()
    form(tmp_path / "ok", dict(members))[1]()  # the unchanged image reads fine in this form
    change(members, info)
    where, read = form(tmp_path, members)
    with pytest.raises(BundleError, match=expected) as caught:
        read()
    assert str(where) in caught.value.message


def _docker_members() -> list[Member]:
    base, app = layer_tar({"etc/os": b"demo"}), layer_tar({"srv/app": b"app"})
    return docker_archive_members([DockerImageSpec(["app:1"], [base, app]),
                                   DockerImageSpec(["base:1"], [base])])


def _named(members: list[Member], suffix: str) -> Member:
    return next(m for m in members if m.name.endswith(suffix))


def _manifest_edit(change: Callable[[list[dict[str, Any]]], Any]) -> Callable[[list[Member]], None]:
    def edit(members: list[Member]) -> None:
        member = _named(members, "manifest.json")
        manifest = json.loads(member.data)
        change(manifest)
        member.data = json.dumps(manifest).encode()
    return edit


def _relink(target: str | None) -> Callable[[list[Member]], None]:
    """Point docker save's shared-layer link elsewhere (None: at a layer folder)."""
    def edit(members: list[Member]) -> None:
        link = next(m for m in members if m.type == tarfile.SYMTYPE)
        folder = next(m for m in members if m.type == tarfile.DIRTYPE)
        link.linkname = target or f"../{folder.name}"
    return edit


TAR_CASES: dict[str, tuple[Callable[[list[Member]], None], str]] = {
    "member with ..": (lambda ms: ms.append(Member("../evil", b"x")), "parent directory"),
    "absolute member": (lambda ms: ms.append(Member("/etc/cron.d/x", b"x")), "absolute path"),
    "manifest.json is a link": (lambda ms: ms.__setitem__(
        ms.index(_named(ms, "manifest.json")),
        Member("manifest.json", type=tarfile.SYMTYPE, linkname="repositories")),
        r"manifest.json is a symbolic link, not a regular member"),
    "config is a hard link": (lambda ms: ms.__setitem__(
        ms.index(_named(ms, ".json")),
        Member(_named(ms, ".json").name, type=tarfile.LNKTYPE, linkname="repositories")),
        "is a hardlink; an image archive holds only files"),
    "layer link leaves the archive": (_relink("../../../etc/shadow"), "points outside"),
    "layer link to a folder": (_relink(None), "which is not a regular member"),
    "device member": (lambda ms: ms.append(Member("dev", type=tarfile.CHRTYPE)), "device"),
    "duplicate member": (lambda ms: ms.append(_named(ms, "manifest.json")),
                         "manifest.json appears more than once"),
    "config altered": (lambda ms: setattr(_named(ms, ".json"), "data",
                                          _named(ms, ".json").data.replace(b"amd64", b"arm64")),
                       "does not match the digest in its name"),
    "config path with ..": (_manifest_edit(lambda x: x[0].update(Config="../x.json")),
                            "parent directory"),
    "manifest.json empty": (_manifest_edit(lambda x: x.clear()), "repositories file names"),
    "manifest.json not a list": (lambda ms: setattr(_named(ms, "manifest.json"), "data", b"{}"),
                                 "manifest.json must be a list of images"),
    "layer member absent": (_manifest_edit(lambda x: x[0]["Layers"].__setitem__(0, "gone.tar")),
                            r"layer 0 of .* \(gone.tar\) is missing"),
    "RepoTags not a list": (_manifest_edit(lambda x: x[0].update(RepoTags="app:1")),
                            "'RepoTags' must be a list"),
    "repositories disagrees": (lambda ms: setattr(_named(ms, "repositories"), "data",
                                                  b'{"evil": {"1": "x"}}'),
                               "repositories file names docker.io/library/evil:1 but "
                               "manifest.json does not"),
    "no image at all": (lambda ms: ms.__init__([Member("notes.txt", b"hi")]),  # type: ignore[misc]
                        "is not an image archive"),
}


@pytest.mark.parametrize("case", sorted(TAR_CASES))
def test_hostile_docker_archive_is_refused(tmp_path: Path, case: str) -> None:
    members = _docker_members()
    assert len(read_image_archive(write_tar(tmp_path / "ok.tar", members), LIMITS)) == 2
    change, expected = TAR_CASES[case]
    change(members)
    archive = write_tar(tmp_path / "save.tar", members)
    with pytest.raises(BundleError, match=expected) as caught:
        read_image_archive(archive, LIMITS)
    assert str(archive) in caught.value.message
    if "absolute" in case or ".." in case or "outside" in case:
        assert isinstance(caught.value, UnsafePathError)


def _big_layer_last(tmp_path: Path) -> Path:
    spec = DockerImageSpec(["app:1"], [layer_tar({"big": os.urandom(64 * 1024)})])
    members = docker_archive_members([spec])
    members.sort(key=lambda m: m.name.endswith("layer.tar"))  # the layer data ends the file
    return write_tar(tmp_path / "save.tar", members)


def test_truncated_archive_is_refused(tmp_path: Path) -> None:
    archive = _big_layer_last(tmp_path)
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(BundleError, match="truncated"):
        read_image_archive(archive, LIMITS)


def test_truncated_gzip_is_refused(tmp_path: Path) -> None:
    archive = _big_layer_last(tmp_path)
    data = gzip.compress(archive.read_bytes())
    archive.write_bytes(data[: len(data) // 2])
    with pytest.raises(BundleError, match=r"cut short|truncated"):
        read_image_archive(archive, LIMITS)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "is an empty file, not a tar archive"),
        (os.urandom(4096), "is not a tar archive"),
        (bz2.compress(b"x" * 1000), "is not a tar archive"),
    ],
    ids=["empty", "random bytes", "bzip2"],
)
def test_files_that_are_not_tar_archives_are_refused(tmp_path: Path, content: bytes,
                                                     expected: str) -> None:
    path = tmp_path / "image.tar"
    path.write_bytes(content)
    with pytest.raises(BundleError, match=expected):
        read_image_archive(path, LIMITS)


def test_huge_tar_header_is_refused_before_it_is_read(tmp_path: Path) -> None:
    members = _docker_members()
    members.insert(0, Member("note", b"x", pax={"comment": "y" * 200_000}))
    archive = write_tar(tmp_path / "save.tar", members)
    with pytest.raises(BundleError,
                       match=r"an extended header at byte 0 is .* bytes, over the limit of 65536"):
        read_image_archive(archive, Limits(max_archive_index_bytes=65536))


def test_too_many_members_are_refused(tmp_path: Path) -> None:
    archive = write_tar(tmp_path / "save.tar", _docker_members())
    with pytest.raises(BundleError, match="holds more than 5 members"):
        read_image_archive(archive, Limits(max_files=5))


@pytest.mark.parametrize("target", ["index.json", "blobs"])
def test_links_inside_a_layout_folder_are_refused(tmp_path: Path, target: str) -> None:
    members, _ = _valid(tmp_path)
    root, read = _as_folder(tmp_path, members)
    moved = tmp_path / "elsewhere"
    (root / target).rename(moved)
    (root / target).symlink_to(moved)
    with pytest.raises(UnsafePathError, match="symbolic link") as caught:
        read()
    assert str(root) in caught.value.message


def test_fifo_in_a_layout_folder_is_refused_without_blocking(tmp_path: Path) -> None:
    members, _ = _valid(tmp_path)
    root, read = _as_folder(tmp_path, members)
    (root / "index.json").unlink()
    os.mkfifo(root / "index.json")
    with pytest.raises(UnsafePathError, match="FIFO"):
        read()


def test_random_corruption_gives_a_bundle_error_or_a_reading(tmp_path: Path) -> None:
    """Flipped bytes anywhere (headers, JSON, gzip) never escape as another exception."""
    members, _ = _valid(tmp_path)
    sources = [_as_tar(tmp_path, members)[0].read_bytes(),
               write_tar(tmp_path / "save.tar", _docker_members()).read_bytes()]
    rng = random.Random(20260101)
    target = tmp_path / "corrupt.tar"
    outcomes = {"read": 0, "refused": 0}
    for base in sources:
        for _ in range(150):
            data = bytearray(base)
            for _ in range(rng.randint(1, 8)):
                data[rng.randrange(len(data))] = rng.randrange(256)
            blob = bytes(data[: rng.randrange(len(data))] if rng.random() < 0.1 else data)
            target.write_bytes(gzip.compress(blob) if rng.random() < 0.2 else blob)
            try:
                read_image_archive(target, LIMITS)
                outcomes["read"] += 1
            except BundleError:
                outcomes["refused"] += 1
    assert outcomes["refused"] > 50  # the corruption did reach the parsers
