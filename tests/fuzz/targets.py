"""Fuzz targets: each takes bytes from the fuzzer and feeds one reader of the media.

A target passes when the reader gives a result or a `StationError`; anything else (a
ValueError, RecursionError, MemoryError, a hang) is a crash the fuzzer reports. Where a
second reader exists, an accepted input must also read the same way there (tarfile for tar
members, Python's json and Go's field matching for JSON, a docker-load-like reader for image
archives): a difference raises `Disagreement`, which is a crash too.

Limits are smaller than the station's defaults so that each run stays fast; the bounds they
test are the same.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
from collections.abc import Callable

from station.bundle import native, strict_json, sums
from station.bundle.compression import Compression, Decompressed, DigestTap, detect
from station.bundle.members import Blob, Members
from station.bundle.oci import read_archive_fd, read_groups
from station.bundle.strict_tar import Profile
from station.config import Limits
from station.errors import StationError
from station.references import normalise, parse_reference
from tests.reader_views import go_field, loader_view, strict_view, tarfile_view

LIMITS = Limits(max_files=500, max_archive_index_bytes=1 << 20, max_bundle_bytes=64 << 20)


class Disagreement(AssertionError):
    """An input the station accepted but another reader reads differently."""


def _tar(data: bytes, profile: Profile) -> None:
    try:
        mine = strict_view(data, profile, max_members=500, max_member_bytes=1 << 20)
    except StationError:
        return
    try:
        other = tarfile_view(data, profile)
    except Exception as exc:
        raise Disagreement(f"accepted, but tarfile fails: {exc!r}") from exc
    if other != mine:
        raise Disagreement(f"strict: {mine!r}\ntarfile: {other!r}")


def tar_image(data: bytes) -> None:
    _tar(data, Profile.IMAGE)


def tar_layer(data: bytes) -> None:
    _tar(data, Profile.LAYER)


_FIELDS = ("config", "Config", "rootfs", "manifests", "digest", "size", "mediaType", "Layers")


def json_document(data: bytes) -> None:
    try:
        loaded = strict_json.loads(data, label="doc", what="the document")
    except StationError:
        return
    if json.loads(data) != loaded:
        raise Disagreement("json.loads reads another value")
    stack = [loaded]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            stack.extend(node.values())
            for name in _FIELDS:
                try:
                    mine = strict_json.field(node, name, label="doc", where="x")
                except StationError:
                    continue
                if mine != go_field(node, name):
                    raise Disagreement(f"field {name!r}: Go reads another value")


def compressed_stream(data: bytes) -> None:
    kind = detect(data) or list(Compression)[data[0] % 4 if data else 0]
    source = io.BytesIO(data)
    try:
        pulled = Decompressed(source.read, kind, label="blob", max_output=8 << 20)
        digest = hashlib.sha256()
        while chunk := pulled.read(65536):
            digest.update(chunk)
        pulled_digest: str | None = "sha256:" + digest.hexdigest()
    except StationError:
        pulled_digest = None
    try:
        tap = DigestTap(kind, label="blob", max_output=8 << 20)
        for start in range(0, len(data), 1000):
            tap.feed(data[start:start + 1000])
        tapped: str | None = tap.finish()
    except StationError:
        tapped = None
    if pulled_digest != tapped:
        raise Disagreement(f"pulled {pulled_digest}, tapped {tapped}")


def image_archive(data: bytes) -> None:
    fd = os.memfd_create("image.tar", os.MFD_CLOEXEC)
    try:
        os.write(fd, data)
        os.lseek(fd, 0, os.SEEK_SET)
        try:
            images = read_archive_fd(fd, LIMITS, "image.tar").images
        except StationError:
            return
    finally:
        os.close(fd)
    if detect(data) is Compression.ZSTD:
        return  # tarfile has no zstd: nothing to compare with
    try:
        expected = loader_view(data)
    except Exception as exc:
        raise Disagreement(f"accepted, but a loader cannot read it: {exc!r}") from exc
    if [image.config_digest for image in images] != expected:
        raise Disagreement(f"station {[i.config_digest for i in images]}, loader {expected}")


_DOCKER_CONFIG = json.dumps({
    "architecture": "amd64", "os": "linux",
    "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "0" * 64]},
}).encode()
_DOCKER_CONFIG_NAME = hashlib.sha256(_DOCKER_CONFIG).hexdigest() + ".json"


def docker_manifest(data: bytes) -> None:
    """manifest.json (the fuzzer's bytes) beside one config and one layer member."""
    members = Members("image.tar", LIMITS)
    members.add_file("manifest.json", Blob(len(data)), data)
    members.add_file(_DOCKER_CONFIG_NAME, Blob(len(_DOCKER_CONFIG)), _DOCKER_CONFIG)
    members.add_file("layer/layer.tar", Blob(1024))
    with contextlib.suppress(StationError):
        read_groups(members, LIMITS)


def oci_index(data: bytes) -> None:
    """index.json (the fuzzer's bytes) in a layout holding one image's blobs."""
    from tests.fuzz.seeds import oci_layout_members

    members = Members("layout", LIMITS)
    for name, blob in oci_layout_members().items():
        layer = blob.startswith(b"\x1f\x8b")  # kept as a size only, as when inspecting
        members.add_file(name, Blob(len(blob)), None if layer else blob)
    members.add_file("index.json", Blob(len(data)), data)
    with contextlib.suppress(StationError):
        read_groups(members, LIMITS)


def reference(data: bytes) -> None:
    text = data.decode("utf-8", "replace")
    try:
        once = normalise(text)
    except StationError:
        return
    if normalise(once) != once or parse_reference(once) != parse_reference(text):
        raise Disagreement(f"{text!r} normalises to {once!r}, which is not stable")


def sums_file(data: bytes) -> None:
    with contextlib.suppress(StationError):
        sums.parse_sums(data)


def bundle_manifest(data: bytes) -> None:
    with contextlib.suppress(StationError):
        native.parse_manifest(data)


TARGETS: dict[str, Callable[[bytes], None]] = {
    "tar_image": tar_image,
    "tar_layer": tar_layer,
    "json_document": json_document,
    "compressed_stream": compressed_stream,
    "image_archive": image_archive,
    "docker_manifest": docker_manifest,
    "oci_index": oci_index,
    "reference": reference,
    "sums_file": sums_file,
    "bundle_manifest": bundle_manifest,
}
