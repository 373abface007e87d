"""Build small, real, deterministic OCI images in pure Python.

Tests and the kiosk demo need genuine images (that skopeo, docker and registries accept)
without network access or a build daemon. Everything here is deterministic: sorted tar
members with mtime 0 and owner 0, gzip with mtime 0 and no file name, JSON with sorted keys,
so the same inputs always give the same digests.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import stat
import tarfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from station.bundle.model import ImageInfo, Layer
from station.bundle.safety import check_relative_path
from station.errors import UnsafePathError, UsageError
from station.references import ReferenceError, is_tag, normalise

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
REF_NAME = "org.opencontainers.image.ref.name"


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _layer_tar(files: Mapping[str, bytes]) -> bytes:
    """An uncompressed tar of `files` with their parent folders, byte-for-byte reproducible."""
    folders: set[str] = set()
    for name in files:
        try:
            check_relative_path(name)
        except UnsafePathError as exc:
            raise UsageError(f"cannot put {name!r} in an image: {exc.message}") from exc
        parts = name.split("/")
        folders.update("/".join(parts[:i]) for i in range(1, len(parts)))
    overlap = folders & set(files)
    if overlap:
        raise UsageError(f"{sorted(overlap)[0]!r} is both a file and a folder")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(folders | set(files)):
            info = tarfile.TarInfo(name)
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if name in folders:
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
            else:
                info.mode = 0o644
                info.size = len(files[name])
                tar.addfile(info, io.BytesIO(files[name]))
    return buffer.getvalue()


def _gzip(data: bytes) -> bytes:
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", fileobj=buffer, mode="wb", compresslevel=9, mtime=0) as gz:
        gz.write(data)
    return buffer.getvalue()


def _write_blob(dest: Path, data: bytes) -> str:
    digest = _digest(data)
    blob = dest / "blobs" / "sha256" / digest.removeprefix("sha256:")
    blob.parent.mkdir(parents=True, exist_ok=True)
    if not blob.exists():
        _write_atomic(blob, data)
    return digest


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _existing_manifests(dest: Path) -> list[dict[str, Any]]:
    """The descriptors of an index.json this module wrote before (absent: none)."""
    index_path = dest / "index.json"
    if not index_path.exists():
        return []
    index = json.loads(index_path.read_text(encoding="utf-8"))
    manifests = index.get("manifests", [])
    if not isinstance(manifests, list):
        raise UsageError(f"{index_path}: 'manifests' is not a list")
    return manifests


def build_oci_layout(
    dest: Path,
    reference: str,
    files: Mapping[str, bytes],
    *,
    labels: Mapping[str, str] | None = None,
    architecture: str = "amd64",
    os_name: str = "linux",
    created: str = "2026-01-01T00:00:00Z",
) -> ImageInfo:
    """Write a one-layer image holding `files` into the OCI layout `dest`, tagged `reference`.

    `reference` goes into the `org.opencontainers.image.ref.name` annotation as given (skopeo
    finds it as `oci:DEST:REFERENCE`); the returned image carries it normalised, as the
    station reads it (a bare tag like `1.2` names no repository, so none). Calling again on
    the same `dest` adds another image to the same index.json; an image already tagged
    `reference` loses that entry (as a tag moves).
    """
    named = "/" in reference or ":" in reference
    try:
        shown = (normalise(reference),) if named else ()
    except ReferenceError as exc:
        raise UsageError(exc.message) from exc
    if not named and not is_tag(reference):
        raise UsageError(f"{reference!r} is not a valid image reference or tag")
    diff = _layer_tar(files)
    layer_blob = _gzip(diff)
    config: dict[str, Any] = {
        "architecture": architecture,
        "os": os_name,
        "created": created,
        "config": {"Labels": dict(labels or {})},
        "rootfs": {"type": "layers", "diff_ids": [_digest(diff)]},
        "history": [{"created": created, "created_by": "station imagebuild"}],
    }
    config_blob = _json_bytes(config)

    dest.mkdir(parents=True, exist_ok=True)
    layer = Layer(_write_blob(dest, layer_blob), len(layer_blob), OCI_LAYER_GZIP)
    config_digest = _write_blob(dest, config_blob)
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config_blob)},
        "layers": [{"mediaType": layer.media_type, "digest": layer.digest, "size": layer.size}],
    }
    manifest_blob = _json_bytes(manifest)
    manifest_digest = _write_blob(dest, manifest_blob)

    descriptors = [
        d
        for d in _existing_manifests(dest)
        if not (isinstance(d, dict) and d.get("annotations", {}).get(REF_NAME) == reference)
    ]
    descriptors.append(
        {
            "mediaType": OCI_MANIFEST,
            "digest": manifest_digest,
            "size": len(manifest_blob),
            "annotations": {REF_NAME: reference},
            "platform": {"architecture": architecture, "os": os_name},
        }
    )
    _write_atomic(dest / "oci-layout", _json_bytes({"imageLayoutVersion": "1.0.0"}))
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descriptors}
    _write_atomic(dest / "index.json", _json_bytes(index))
    return ImageInfo(
        references=shown,
        platform=f"{os_name}/{architecture}",
        manifest_digest=manifest_digest,
        config_digest=config_digest,
        layers=(layer,),
        config_size=len(config_blob),
        created=created,
        labels=dict(labels or {}),
        media_type=OCI_MANIFEST,
    )


def write_oci_archive(layout: Path, tar_path: Path) -> None:
    """Write the OCI layout folder `layout` as an oci-archive tarball (what skopeo reads).

    Members sit at the root of the tar (`oci-layout`, `index.json`, `blobs/...`), sorted, with
    mtime and owner 0, so the same layout always gives the same archive bytes.
    """
    names: list[Path] = []
    for folder, dirs, filenames in os.walk(layout):
        dirs.sort()
        for name in [*dirs, *filenames]:
            path = Path(folder) / name
            mode = path.lstat().st_mode
            if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
                raise UsageError(f"{path} is neither a file nor a folder")
            names.append(path)
    tmp = tar_path.with_name(tar_path.name + ".tmp")
    with tarfile.open(tmp, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(names, key=lambda p: p.relative_to(layout).as_posix()):
            info = tarfile.TarInfo(path.relative_to(layout).as_posix())
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if path.is_dir():
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
            else:
                info.mode = 0o644
                info.size = path.stat().st_size
                with path.open("rb") as data:
                    tar.addfile(info, data)
    os.replace(tmp, tar_path)
