"""Images as other tools write them: buildah builds, podman saves in its four formats, skopeo
writes `dir:` folders, zstd layers and `.tar.zst` archives. The station lists each with the
config digest skopeo reports, verifies it and stages it; skopeo reads the staged copy back.

podman and buildah run rootless-free here with their own storage under tmp_path
(`--root`, `--runroot`, vfs): nothing is left running.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from station.bundle import ItemKind, open_bundle
from station.bundle.compression import _zstd
from station.importing.store import StoreTarget
from tests.importing_builders import sign_media, verify_media

TOOLS = {name: shutil.which(name) for name in ("skopeo", "podman", "buildah")}
pytestmark = [
    pytest.mark.real,
    pytest.mark.skipif(not all(TOOLS.values()),
                       reason="skopeo, podman and buildah are needed (Debian packages)"),
]
NAME = "localhost/vendor/app:1.0"


def _run(*args: str) -> str:
    result = subprocess.run(list(args), capture_output=True, text=True, timeout=300,
                            check=False)
    assert result.returncode == 0, f"{' '.join(args)} failed: {result.stderr}"
    return result.stdout


def _skopeo(*args: str) -> str:
    return _run("skopeo", "--insecure-policy", *args)


@pytest.fixture(scope="module")
def storage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    """A private containers storage holding one image that buildah built from scratch."""
    base = tmp_path_factory.mktemp("containers")
    flags = ["--root", str(base / "root"), "--runroot", str(base / "run"),
             "--storage-driver", "vfs"]
    (base / "payload.txt").write_text("vendor payload\n")
    container = _run("buildah", *flags, "from", "scratch").strip()
    _run("buildah", *flags, "copy", container, str(base / "payload.txt"), "/payload.txt")
    _run("buildah", *flags, "config", "--label", "vendor=acme", "--os", "linux",
         "--arch", "amd64", container)
    _run("buildah", *flags, "commit", "-q", container, NAME)
    _run("buildah", *flags, "rm", container)
    yield flags


def _expected_config(transport: str) -> str:
    config = _skopeo("inspect", "--raw", "--config", transport)
    import hashlib

    return "sha256:" + hashlib.sha256(config.encode()).hexdigest()


def _verify_and_store(media: Path, tmp_path: Path) -> tuple[list[str], Path]:
    verification = verify_media(media)
    assert verification.verdict == "accepted", verification.problems
    assert verification.staged is not None
    store = tmp_path / "store"
    target = StoreTarget(store, tmp_path / "home")
    target.run(target.plan(verification.staged))
    return [image.config_digest for image in verification.images], store


@pytest.mark.parametrize("fmt", ["oci-archive", "oci-dir", "docker-archive", "docker-dir"])
def test_podman_save_in_every_format_is_listed_verified_and_stored(
    storage: list[str], tmp_path: Path, fmt: str
) -> None:
    media = tmp_path / "media"
    media.mkdir()
    out = media / f"app-{fmt}"
    _run("podman", *storage, "save", "--format", fmt, "-o", str(out), NAME)
    transport = {"oci-archive": "oci-archive:", "oci-dir": "oci:", "docker-archive":
                 "docker-archive:", "docker-dir": "dir:"}[fmt] + str(out)
    expected = _expected_config(transport)

    sign_media(media)
    bundle = open_bundle(media)
    (item,) = bundle.items
    assert item.kind is (ItemKind.OCI_LAYOUT if fmt.endswith("-dir") else ItemKind.IMAGE_ARCHIVE)
    assert not bundle.problems, bundle.problems
    assert [image.config_digest for image in bundle.images] == [expected]

    configs, store = _verify_and_store(media, tmp_path)
    assert configs == [expected]
    index = json.loads((store / "index.json").read_text())
    (entry,) = index["manifests"]
    ref = entry.get("annotations", {}).get("org.opencontainers.image.ref.name", "")
    seen = _expected_config(f"oci:{store}:{ref}" if ref else f"oci:{store}")
    assert seen == expected


def test_skopeo_dir_with_zstd_layers_and_oci_layout_with_zstd_layers(
    storage: list[str], tmp_path: Path
) -> None:
    source = tmp_path / "src"
    _run("podman", *storage, "save", "--format", "oci-dir", "-o", str(source), NAME)
    media = tmp_path / "media"
    media.mkdir()
    for dest in (f"dir:{media / 'as-dir'}", f"oci:{media / 'as-oci'}:app"):
        _skopeo("copy", "--dest-compress-format", "zstd", "--dest-compress", f"oci:{source}",
                dest)
    manifest = json.loads((media / "as-dir" / "manifest.json").read_text())
    assert manifest["layers"][0]["mediaType"].endswith("+zstd")
    expected = _expected_config(f"oci:{source}")
    assert _expected_config(f"dir:{media / 'as-dir'}") == expected

    sign_media(media)
    bundle = open_bundle(media)
    assert not bundle.problems, bundle.problems
    assert [image.config_digest for image in bundle.images] == [expected, expected]
    configs, _ = _verify_and_store(media, tmp_path)
    assert configs == [expected, expected]


def test_tar_zst_oci_archive_is_read_like_the_plain_one(
    storage: list[str], tmp_path: Path
) -> None:
    plain = tmp_path / "app.tar"
    _run("podman", *storage, "save", "--format", "oci-archive", "-o", str(plain), NAME)
    media = tmp_path / "media"
    media.mkdir()
    (media / "app.tar.zst").write_bytes(_zstd.compress(plain.read_bytes()))
    expected = _expected_config(f"oci-archive:{plain}")

    sign_media(media)
    bundle = open_bundle(media)
    assert [image.config_digest for image in bundle.images] == [expected]
    configs, _ = _verify_and_store(media, tmp_path)
    assert configs == [expected]


def test_dir_folder_whose_blob_is_not_what_its_name_says_is_refused(
    storage: list[str], tmp_path: Path
) -> None:
    media = tmp_path / "media"
    media.mkdir()
    folder = media / "app"
    _run("podman", *storage, "save", "--format", "docker-dir", "-o", str(folder), NAME)
    manifest = json.loads((folder / "manifest.json").read_text())
    layer = folder / manifest["layers"][0]["digest"].removeprefix("sha256:")
    layer.write_bytes(layer.read_bytes()[:-1] + b"\x01")  # same size, other bytes

    verification = verify_media(media)
    assert verification.verdict == "rejected"
    assert "unreadable-image" in {p.code for p in verification.problems}
    assert any("does not match the digest in its name" in p.message
               for p in verification.problems)
