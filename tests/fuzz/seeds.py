"""The seed corpus of the fuzz targets, written by `python -m tests.fuzz.seeds`.

Seeds are small (a few hundred bytes to a few KB) and come from three places: archives the
real skopeo wrote (when it is installed; their bytes are committed, so the corpus does not
depend on it later), the project's own builders (tests/tar_headers.py, tests/oci_fixtures.py)
for each format the station reads, and the crafted polyglots of the differential tests.
tests/fuzz/README.md lists them.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import json
import lzma
import shutil
import subprocess
import sys
import tempfile
from functools import cache
from pathlib import Path

from station.bundle.compression import _zstd
from tests import tar_headers as th
from tests.oci_fixtures import DockerImageSpec, docker_archive_members, layer_tar, sha256

CORPUS = Path(__file__).parent / "corpus"


def _tar(members: list[tuple[str, bytes]]) -> bytes:
    return th.tarfile_archive(members)


@cache
def oci_layout_members() -> dict[str, bytes]:
    """One image's OCI layout (gzip layer) without index.json, by member name."""
    layer = gzip.compress(layer_tar({"etc/hostname": b"station\n"}), mtime=0)
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {
        "type": "layers", "diff_ids": [sha256(gzip.decompress(layer))]}}).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": sha256(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": sha256(layer), "size": len(layer)}]}).encode()
    members = {"oci-layout": b'{"imageLayoutVersion":"1.0.0"}'}
    for data in (layer, config, manifest):
        members["blobs/sha256/" + sha256(data).removeprefix("sha256:")] = data
    return members


def _index(manifest: bytes, **extra: object) -> bytes:
    descriptor = {"mediaType": "application/vnd.oci.image.manifest.v1+json",
                  "digest": sha256(manifest), "size": len(manifest),
                  "annotations": {"org.opencontainers.image.ref.name": "app:1"}, **extra}
    return json.dumps({"schemaVersion": 2, "manifests": [descriptor]}).encode()


def _docker_save() -> bytes:
    spec = DockerImageSpec(["app:1"], [_trimmed(layer_tar({"srv/app": b"app\n"}))])
    members = docker_archive_members([spec])
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for member in members:
            info = tarfile.TarInfo(member.name)
            info.type, info.linkname, info.mtime = member.type, member.linkname, 0
            info.size = len(member.data) if member.type == tarfile.REGTYPE else 0
            tar.addfile(info, io.BytesIO(member.data) if info.size else None)
    return buffer.getvalue()


def _skopeo_archives() -> dict[str, bytes]:
    """A docker-archive and an oci-archive written by the real skopeo, if installed."""
    if shutil.which("skopeo") is None:
        print("skopeo is not installed: no seeds written by skopeo", file=sys.stderr)
        return {}
    from station.publish.imagebuild import build_oci_layout

    found: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory() as folder:
        layout = Path(folder) / "layout"
        build_oci_layout(layout, "app:1", {"srv/app": b"app\n"})
        for transport in ("docker-archive", "oci-archive"):
            out = Path(folder) / f"{transport}.tar"
            subprocess.run(["skopeo", "--insecure-policy", "copy", f"oci:{layout}:app:1",
                            f"{transport}:{out}:app:1"], check=True, capture_output=True)
            found[transport] = out.read_bytes()
    return found


def seeds() -> dict[str, dict[str, bytes]]:
    """Every target's seeds, by target and seed name."""
    from tests.test_properties_tar import CRAFTED

    layout = oci_layout_members()
    manifest = next(data for name, data in layout.items() if b'"schemaVersion"' in data)
    config = next(data for data in layout.values() if b'"rootfs"' in data)
    oci_archive = _tar([*layout.items(), ("index.json", _index(manifest))])
    docker = _docker_save()
    real = _skopeo_archives()
    docker_manifest = json.loads(next(
        m.data for m in docker_archive_members([DockerImageSpec(["app:1"], [b"x"])])
        if m.name == "manifest.json"))
    plain = th.tarfile_archive([("etc/hostname", b"station\n"), ("srv/app", b"app\n")])
    gnu = th.archive(th.gnu_long_name("a" * 120), th.member("a" * 99, b"x", magic=th.GNU_MAGIC))
    pax = th.archive(th.pax_header([("path", "long/" + "p" * 110), ("mtime", "1.5")]),
                     th.member("short", b"data"))
    corpus: dict[str, dict[str, bytes]] = {
        "tar_image": {"docker-save.tar": docker, "oci-archive.tar": oci_archive,
                      "pax-path.tar": pax, "folders-and-link.tar": th.archive(
                          th.folder("d"), th.member("d/f", b"x"), th.symlink("l", "d/f"))},
        "tar_layer": {"plain.tar": plain, "gnu-long-name.tar": gnu, "pax-path.tar": pax,
                      "old-folder.tar": th.archive(th.member("etc/", typeflag=b"\x00"))},
        "json_document": {"manifest.json": json.dumps(docker_manifest).encode(),
                          "config.json": config, "oci-manifest.json": manifest,
                          "index.json": _index(manifest, platform={"os": "linux",
                                                                   "architecture": "amd64"}),
                          "case-collision.json": b'{"Config":"a","config":"b"}',
                          "long-s.json": b'{"\\u017fize":1}'},
        "compressed_stream": {"tar.gz": gzip.compress(plain, mtime=0),
                              "tar.bz2": bz2.compress(plain), "tar.xz": lzma.compress(plain),
                              "tar.zst": _zstd.compress(plain),
                              "two-streams.gz": gzip.compress(b"a" * 100, mtime=0)
                              + gzip.compress(b"b" * 100, mtime=0)},
        "image_archive": {"docker-save.tar.gz": gzip.compress(docker, mtime=0),
                          "oci-archive.tar": oci_archive},
        "docker_manifest": {"manifest.json": json.dumps([{
            "Config": hashlib.sha256(json.dumps({
                "architecture": "amd64", "os": "linux",
                "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "0" * 64]}}).encode()
            ).hexdigest() + ".json", "RepoTags": ["app:1"],
            "Layers": ["layer/layer.tar"]}]).encode(), "null.json": b"null"},
        "oci_index": {"index.json": _index(manifest), "null-manifests.json":
                      b'{"schemaVersion":2,"manifests":null}'},
        "reference": {"full": b"registry.example.org:5000/team/app:1.2@sha256:" + b"a" * 64,
                      "short": b"alpine", "upper": b"UPPER/Case:tag", "host": b"localhost/x",
                      "bracket-host-without-colon": b"[2]/x"},
        "sums_file": {"SHA256SUMS": b"".join(
            f"{hashlib.sha256(n.encode()).hexdigest()}  {n}\n".encode()
            for n in ("a.txt", "docs/b.bin")) + b"\\" + b"0" * 64 + b"  a\\\\b\n"},
        "bundle_manifest": {"bundle.json": json.dumps({
            "format": "transfer-station/bundle", "version": 1, "name": "demo",
            "channel": "stable", "sequence": 3, "created": "2026-01-01T00:00:00Z",
            "producer": "ci", "items": [
                {"path": "app.tar", "kind": "image-archive", "size": 10, "sha256": "0" * 64,
                 "references": ["app:1"]},
                {"path": "layout", "kind": "oci-layout", "files": [
                    {"path": "index.json", "size": 2, "sha256": "1" * 64}]}]}).encode()},
    }
    for name, data in real.items():
        corpus["image_archive"][f"skopeo-{name}.tar.xz"] = lzma.compress(data)
        if name == "oci-archive":
            corpus["tar_image"][f"skopeo-{name}.tar"] = data
    for case, (data, _) in CRAFTED.items():
        slug = "".join(c if c.isalnum() else "-" for c in case.lower()).strip("-")
        corpus["tar_image"][f"crafted-{slug}.tar"] = data
        corpus["tar_layer"][f"crafted-{slug}.tar"] = data
    return corpus


def _trimmed(data: bytes) -> bytes:
    """A tar without the zero padding after its two end blocks (tarfile pads to 10 KiB)."""
    end = len(data.rstrip(b"\x00"))
    end += -end % th.BLOCK
    return data[:end] + th.end() if data.endswith(th.end()) else data


def write(root: Path = CORPUS) -> None:
    if root.exists():
        shutil.rmtree(root)
    for target, found in seeds().items():
        folder = root / target
        folder.mkdir(parents=True)
        for name, data in found.items():
            (folder / name).write_bytes(_trimmed(data) if name.endswith(".tar") else data)


if __name__ == "__main__":
    write()
