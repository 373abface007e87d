"""Crafted archives that two real readers read as two different images: the station refuses
each with a stated reason, and the test shows the ambiguity is real where it can.

The readers compared: Python's tarfile and json (how a station built on them read archives
before issue 9), skopeo 1.9.3 (Go's archive/tar and encoding/json, reading the tar in place:
`skopeo inspect --config --raw docker-archive:PATH`), and `docker load` into the private
dockerd (Go, extracting the tar to disk first). Each polyglot is built in the test
(tests/polyglots.py); its docstring says who reads what.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from station.bundle.oci import read_image_archive
from station.config import Limits
from station.errors import BundleError
from tests import polyglots as pg
from tests.real.servers import Dockerd

SKOPEO = shutil.which("skopeo")
pytestmark = [
    pytest.mark.real,
    pytest.mark.skipif(SKOPEO is None, reason="skopeo is not installed (Debian: skopeo)"),
]
LIMITS = Limits()
A, B = pg.image_a().config_digest, pg.image_b().config_digest
B_ON_A = pg.image_b_on_a_layer().config_digest
NO_IMAGE = "no image"


def _error(text: str) -> str:
    return "error: " + text.strip().splitlines()[-1][:200] if text.strip() else "error"


def python_view(path: Path) -> str:
    """The config digest a reader built on tarfile and json finds (or why it finds none)."""
    try:
        with tarfile.open(path) as tar:
            names = tar.getnames()
            if "index.json" in names:
                index = json.loads(tar.extractfile("index.json").read())  # type: ignore[union-attr]
                digest = index["manifests"][0]["digest"].removeprefix("sha256:")
                manifest = json.loads(tar.extractfile(f"blobs/sha256/{digest}").read())  # type: ignore[union-attr]
                return str(manifest["config"]["digest"])
            if "manifest.json" not in names:
                return NO_IMAGE
            entries = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
            config = tar.extractfile(entries[0]["Config"]).read()  # type: ignore[union-attr]
    except (tarfile.TarError, KeyError, ValueError) as exc:
        return _error(str(exc))
    return "sha256:" + hashlib.sha256(config).hexdigest()


def named_view(path: Path) -> str:
    """The config digest an importer that picks entries by file name believes it has: the
    one in the name of the config member (`<hex>.json`)."""
    with tarfile.open(path) as tar:
        entries = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
    return "sha256:" + str(entries[0]["Config"]).removesuffix(".json")


def skopeo_view(path: Path, transport: str = "docker-archive") -> str:
    """The config digest skopeo reads (or its error)."""
    done = subprocess.run([SKOPEO or "skopeo", "--insecure-policy", "inspect", "--config",
                           "--raw", f"{transport}:{path}"], capture_output=True, timeout=60,
                          check=False)
    if done.returncode != 0:
        return _error(done.stderr.decode(errors="replace"))
    return "sha256:" + hashlib.sha256(done.stdout).hexdigest()


class Loader:
    """`docker load` into the private dockerd; images loaded are removed afterwards."""

    def __init__(self, dockerd: Dockerd) -> None:
        self.host = dockerd.base_url
        self.loaded: list[str] = []

    def docker(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["docker", "-H", self.host, *args], capture_output=True,
                              text=True, timeout=120, check=False)

    def load(self, path: Path) -> str:
        """The loaded image's ID (its config digest), or docker's error."""
        done = self.docker("load", "-i", str(path))
        if done.returncode != 0:
            return _error(done.stderr)
        line = done.stdout.strip().splitlines()[-1]
        name = line.split(": ", 1)[1]
        self.loaded.append(name)
        return self.inspect(name, "{{.Id}}")

    def inspect(self, name: str, template: str) -> str:
        return self.docker("image", "inspect", "--format", template, name).stdout.strip()

    def remove(self) -> None:
        if self.loaded:
            self.docker("rmi", "-f", *self.loaded)


@pytest.fixture
def loader(dockerd: Dockerd) -> Iterator[Loader]:
    found = Loader(dockerd)
    try:
        yield found
    finally:
        found.remove()


def _refused(path: Path, reason: str) -> str:
    with pytest.raises(BundleError, match=reason) as caught:
        read_image_archive(path, LIMITS)
    print(f"station: {caught.value.message}")
    return caught.value.message


def _write(tmp_path: Path, data: bytes, name: str = "image.tar") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# (builder, the station's reason, what Python reads, what skopeo reads, what docker loads)
TAR_CASES: dict[str, tuple[Callable[[str], bytes], str, str, str, str]] = {
    "size field starting with NUL": (
        pg.nul_size, "size of the header at byte 0 is not an octal number", A, B, B),
    "PAX path and GNU long name on one member": (
        pg.pax_and_gnu_names, "is not POSIX ustar", A, B, B),
    "bad header checksum after the first member": (
        pg.bad_checksum_after_first, "has a wrong checksum", A, "error", "error"),
    "malformed PAX record": (pg.malformed_pax_record, "a malformed PAX record", A, "error",
                             "error"),
    "repeated extended headers": (pg.repeated_pax_headers, "two PAX headers", A, B, B),
    "prefix field without ustar magic": (
        pg.prefix_without_magic, "is not POSIX ustar", NO_IMAGE, B, B),
    "one end block, then more members": (
        pg.single_end_block_then_data, "single zero block .* followed by more data", A,
        "error", "error"),
    "member behind a symlinked parent folder": (
        pg.below_symlinked_folder, "lies below the symbolic link cfg", A, A, B_ON_A),
    "manifest.json entry with Config and a later config": (
        pg.config_and_config, "keys 'Config' and 'config' differ only in case", A, B, B),
    "entry selected by file name holding another config": (
        pg.config_named_for_another, "does not match the digest in its name", A, B_ON_A,
        B_ON_A),
}


@pytest.mark.parametrize("case", sorted(TAR_CASES))
def test_polyglot_is_refused_and_real_readers_disagree(tmp_path: Path, loader: Loader,
                                                       case: str) -> None:
    build, reason, by_python, by_skopeo, by_docker = TAR_CASES[case]
    tag = "poly-" + hashlib.sha256(case.encode()).hexdigest()[:12] + ":1"
    path = _write(tmp_path, build(tag))
    _refused(path, reason)
    by_name = build is pg.config_named_for_another
    seen = {"python": named_view(path) if by_name else python_view(path),
            "skopeo": skopeo_view(path), "docker": loader.load(path)}
    print(f"{case}: {seen}")
    for reader, expected in (("python", by_python), ("skopeo", by_skopeo),
                             ("docker", by_docker)):
        if expected == "error":
            assert seen[reader].startswith("error"), (reader, seen)
        else:
            assert seen[reader] == expected, (reader, seen)
    assert len({seen["python"], seen["skopeo"], seen["docker"]}) > 1


def test_data_after_the_end_blocks_is_refused(tmp_path: Path, loader: Loader) -> None:
    """Python, skopeo and docker all stop at the end blocks; GNU tar --ignore-zeros (and any
    tool that concatenates archives) reads on into image B's members."""
    path = _write(tmp_path, pg.data_after_end("poly-after-end:1"))
    _refused(path, "data follows the end of the archive")
    assert python_view(path) == skopeo_view(path) == loader.load(path) == A
    listed = subprocess.run(["tar", "--ignore-zeros", "-tf", str(path)], capture_output=True,
                            text=True, check=True).stdout.split()
    assert listed.count("manifest.json") == 2
    assert pg.image_b().config_name in listed


def test_star_header_gives_docker_another_layer(tmp_path: Path, loader: Loader) -> None:
    """Found while writing these tests: Go reads a shorter ustar prefix when a header ends
    in star's trailer, so one member has two names. tarfile reads layer A at the path the
    manifest gives; docker extracts two files to that path and loads the later, layer B."""
    path = _write(tmp_path, pg.star_trailer("poly-star:1"))
    _refused(path, "star trailer")
    folder = "d" * 131
    with tarfile.open(path) as tar:
        names = tar.getnames()
        python_layer = tar.extractfile(f"{folder}/layer.tar").read()  # type: ignore[union-attr]
    assert f"{folder}00000000000 00000000000 /layer.tar" in names
    assert loader.load(path).startswith("sha256:")
    docker_layers = json.loads(loader.inspect("poly-star:1", "{{json .RootFS.Layers}}"))
    assert docker_layers == [pg.sha256(pg._layer(b"layer B\n"))]
    assert pg.sha256(python_layer) == pg.sha256(pg._layer(b"layer A\n")) != docker_layers[0]


def test_config_with_rootfs_and_RootFS_is_refused(tmp_path: Path, loader: Loader) -> None:
    data, python_diff, go_diff = pg.rootfs_and_rootfs("poly-rootfs:1")
    path = _write(tmp_path, data)
    _refused(path, "keys 'rootfs' and 'RootFS' differ only in case")
    with tarfile.open(path) as tar:
        entry = json.loads(tar.extractfile("manifest.json").read())[0]  # type: ignore[union-attr]
        config = json.loads(tar.extractfile(entry["Config"]).read())  # type: ignore[union-attr]
    assert config["rootfs"]["diff_ids"] == [python_diff]
    assert loader.load(path).startswith("sha256:")
    assert json.loads(loader.inspect("poly-rootfs:1", "{{json .RootFS.Layers}}")) == [go_diff]


def test_index_with_manifests_and_Manifests_is_refused(tmp_path: Path) -> None:
    """docker 20.10 cannot load an oci-archive; skopeo can, and takes the last key."""
    path = _write(tmp_path, pg.manifests_and_manifests(), "image.oci.tar")
    _refused(path, "keys 'manifests' and 'Manifests' differ only in case")
    assert python_view(path) == A
    assert skopeo_view(path, "oci-archive") == B


def test_long_s_in_a_key_gives_docker_another_tag(tmp_path: Path, loader: Loader) -> None:
    path = _write(tmp_path, pg.long_s_tags("poly-approved:1", "poly-other:1"))
    _refused(path, "keys 'RepoTags' and 'RepoTag\u017f' differ only in case")
    with tarfile.open(path) as tar:
        entry = json.loads(tar.extractfile("manifest.json").read())[0]  # type: ignore[union-attr]
    assert entry["RepoTags"] == ["poly-approved:1"]
    assert loader.load(path) == A
    assert loader.inspect("poly-other:1", "{{.Id}}") == A
    assert loader.inspect("poly-approved:1", "{{.Id}}") == ""


def test_kelvin_sign_in_a_key_gives_docker_another_value(tmp_path: Path,
                                                         loader: Loader) -> None:
    path = _write(tmp_path, pg.kelvin_working_dir("poly-kelvin:1"))
    _refused(path, "keys 'WorkingDir' and 'Wor\u212aingDir' differ only in case")
    assert loader.load(path).startswith("sha256:")
    assert loader.inspect("poly-kelvin:1", "{{.Config.WorkingDir}}") == "/evil"
