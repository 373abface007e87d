"""Images read out of staged items and copied into an OCI layout, every blob checked.

Staged items come in three shapes: an OCI layout folder, an oci-archive tar (an OCI layout in
a tar) and a docker-archive tar. An OCI-shaped source (including `docker save` from Docker 25+,
which carries `index.json` and `blobs/`) is copied blob by blob with its manifest unchanged, so
the manifest digest stays the one verified. A legacy docker-archive (`manifest.json`, a
`<id>.json` config and uncompressed `<id>/layer.tar` files) has no manifest: one is written
here, by our own code, from bytes that are all local and verified. Each layer must hash to the
`diff_id` its config lists, and the config to the image ID, so the result is the same image.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from station.bundle.model import ImageInfo, Item, ItemKind
from station.importing.base import ImportFailed, StagedBundle
from station.importing.layout import BytesCallback, OciLayout

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
MAX_JSON = 16 * 1024 * 1024


class StagedItem:
    """Read access to one staged item, a tar or a folder, by member path."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._tar: tarfile.TarFile | None = None

    def __enter__(self) -> StagedItem:
        if self.path.is_file():
            try:
                self._tar = tarfile.open(self.path, mode="r:*")
                self._tar.getmembers()  # walk every header now: a damaged tar fails here
            except (OSError, EOFError, tarfile.TarError) as exc:
                if self._tar is not None:
                    self._tar.close()
                raise ImportFailed(
                    f"cannot read the staged archive {self.path.name}: {exc}",
                    hint="staging changed after verification; verify the bundle again",
                ) from exc
        elif not self.path.is_dir():
            raise ImportFailed(
                f"{self.path} is not in staging",
                hint="staging was cleaned or moved; verify the bundle again",
            )
        return self

    def __exit__(self, *exc: object) -> None:
        if self._tar is not None:
            self._tar.close()

    @property
    def is_archive(self) -> bool:
        return self._tar is not None

    def size(self, member: str) -> int | None:
        """Size of a regular member or file; None when it does not exist as one."""
        if self._tar is not None:
            try:
                info = self._tar.getmember(member)
            except KeyError:
                return None
            return info.size if info.isreg() else None
        try:
            result = os.lstat(self.path / member)
        except OSError:
            return None
        return result.st_size if stat.S_ISREG(result.st_mode) else None

    @contextlib.contextmanager
    def open(self, member: str) -> Iterator[IO[bytes]]:
        """Open a regular member (never a link) for reading."""
        if self._tar is not None:
            try:
                info = self._tar.getmember(member)
            except KeyError:
                info = None
            stream = self._tar.extractfile(info) if info is not None and info.isreg() else None
            if stream is None:
                raise ImportFailed(f"{self.path.name}: {member} is missing or not a file")
            with stream:
                yield stream
            return
        try:
            fd = os.open(self.path / member, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError as exc:
            raise ImportFailed(f"cannot read {self.path.name}/{member}: {exc.strerror}") from exc
        with os.fdopen(fd, "rb") as handle:
            yield handle

    def read_json(self, member: str) -> Any:
        size = self.size(member)
        if size is None or size > MAX_JSON:
            raise ImportFailed(f"{self.path.name}: {member} is missing or too large")
        with self.open(member) as stream:
            data = stream.read(MAX_JSON + 1)
        try:
            return json.loads(data)
        except ValueError as exc:
            raise ImportFailed(f"{self.path.name}: {member} is not valid JSON ({exc})") from exc


def blob_member(digest: str) -> str:
    algorithm, _, hexdigest = digest.partition(":")
    return f"blobs/{algorithm}/{hexdigest}"


@dataclass(frozen=True)
class SourceImage:
    """One image of a staged item, and how to find its bytes there."""

    item: Item
    image: ImageInfo
    path: Path  # the staged archive or folder
    legacy_index: int | None  # position in manifest.json for a legacy docker-archive

    @property
    def is_legacy(self) -> bool:
        return self.legacy_index is not None


def _legacy_position(source: StagedItem, config_digest: str) -> int | None:
    if source.size("manifest.json") is None:
        return None
    entries = source.read_json("manifest.json")
    if not isinstance(entries, list):
        raise ImportFailed(f"{source.path.name}: manifest.json is not a list")
    hexdigest = config_digest.partition(":")[2]
    for position, entry in enumerate(entries):
        config = entry.get("Config") if isinstance(entry, dict) else None
        if isinstance(config, str) and Path(config).name.removesuffix(".json") == hexdigest:
            return position
    return None


def source_images(staged: StagedBundle) -> list[SourceImage]:
    """Every image of the bundle, with whether its archive is OCI-shaped or legacy."""
    result: list[SourceImage] = []
    for item in staged.items:
        if item.kind not in (ItemKind.IMAGE_ARCHIVE, ItemKind.OCI_LAYOUT) or not item.images:
            continue
        path = staged.root / item.path
        with StagedItem(path) as source:
            for image in item.images:
                has_manifest = bool(image.manifest_digest) and (
                    source.size(blob_member(image.manifest_digest)) is not None
                )
                position = None
                if not has_manifest:
                    position = _legacy_position(source, image.config_digest)
                    if position is None:
                        raise ImportFailed(
                            f"{item.path}: image {image.config_digest} is not in the archive",
                            hint="verify the bundle again; staging does not match it",
                        )
                result.append(SourceImage(item, image, path, position))
    return result


@dataclass(frozen=True)
class CopiedImage:
    """An image now complete in a layout (all blobs and its manifest)."""

    descriptor: dict[str, Any]
    bytes_copied: int


def copy_image(
    source: SourceImage,
    layout: OciLayout,
    *,
    on_bytes: BytesCallback | None = None,
    cancel: threading.Event | None = None,
) -> CopiedImage:
    """Write every blob of the image, then its manifest, into `layout` (not the index)."""
    with StagedItem(source.path) as staged:
        if source.legacy_index is None:
            return _copy_oci(source, staged, layout, on_bytes, cancel)
        return _copy_legacy(source, staged, layout, on_bytes, cancel)


def _copy_blob(
    staged: StagedItem,
    layout: OciLayout,
    member: str,
    digest: str,
    on_bytes: BytesCallback | None,
    cancel: threading.Event | None,
) -> int:
    if layout.has_blob(digest):
        size = staged.size(member)
        if on_bytes is not None and size:
            on_bytes(size)
        return 0
    size = staged.size(member)
    if size is None:
        raise ImportFailed(f"{staged.path.name}: {member} is missing or not a file")
    with staged.open(member) as stream:
        _, written = layout.write_blob(
            stream, digest=digest, size=size, what=member, on_bytes=on_bytes, cancel=cancel
        )
    return written


def _copy_oci(
    source: SourceImage,
    staged: StagedItem,
    layout: OciLayout,
    on_bytes: BytesCallback | None,
    cancel: threading.Event | None,
) -> CopiedImage:
    image = source.image
    member = blob_member(image.manifest_digest)
    size = staged.size(member) or 0
    if size > MAX_JSON:
        raise ImportFailed(f"{source.item.path}: manifest {image.manifest_digest} is too large")
    with staged.open(member) as stream:
        manifest_bytes = stream.read(MAX_JSON + 1)
    manifest = _parse_manifest(manifest_bytes, source.item.path)
    copied = 0
    for descriptor in [manifest["config"], *manifest["layers"]]:
        digest = descriptor.get("digest")
        if not isinstance(digest, str):
            raise ImportFailed(f"{source.item.path}: a descriptor has no digest")
        copied += _copy_blob(staged, layout, blob_member(digest), digest, on_bytes, cancel)
    if manifest["config"].get("digest") != image.config_digest:
        raise ImportFailed(
            f"{source.item.path}: the manifest names config {manifest['config'].get('digest')}, "
            f"not the verified {image.config_digest}"
        )
    digest = layout.write_bytes_blob(manifest_bytes, what=member)
    if digest != image.manifest_digest:
        raise ImportFailed(f"{source.item.path}: manifest {member} does not match its digest")
    media_type = manifest.get("mediaType") or image.media_type or OCI_MANIFEST
    descriptor = {"mediaType": media_type, "digest": digest, "size": len(manifest_bytes)}
    return CopiedImage(descriptor, copied)


def _parse_manifest(data: bytes, where: str) -> dict[str, Any]:
    try:
        manifest = json.loads(data)
    except ValueError as exc:
        raise ImportFailed(f"{where}: an image manifest is not valid JSON ({exc})") from exc
    if (
        not isinstance(manifest, dict)
        or not isinstance(manifest.get("config"), dict)
        or not isinstance(manifest.get("layers"), list)
        or not all(isinstance(layer, dict) for layer in manifest["layers"])
    ):
        raise ImportFailed(f"{where}: an image manifest lacks its config or layers")
    return manifest


class _LegacyLayerCheck:
    """Accepts a legacy layer.tar: uncompressed it must hash to its config's diff_id."""

    def __init__(self, where: str, member: str, diff_id: object) -> None:
        self.where = where
        self.member = member
        self.diff_id = diff_id
        self.media_type = OCI_LAYER_TAR

    def __call__(self, actual: str, head: bytes) -> None:
        if head.startswith(b"\x1f\x8b"):
            self.media_type = OCI_LAYER_GZIP  # compressed: only the archive hash vouches for it
        elif actual != self.diff_id:
            raise ImportFailed(
                f"{self.where}: layer {self.member} hashes to {actual}, its config says "
                f"{self.diff_id}",
                hint="the archive is inconsistent; ask the sender to save it again",
            )


def _copy_legacy(
    source: SourceImage,
    staged: StagedItem,
    layout: OciLayout,
    on_bytes: BytesCallback | None,
    cancel: threading.Event | None,
) -> CopiedImage:
    where = source.item.path
    entries = staged.read_json("manifest.json")
    entry = entries[source.legacy_index]
    config_member = entry["Config"]
    layer_members = entry.get("Layers")
    if not isinstance(layer_members, list) or not all(isinstance(m, str) for m in layer_members):
        raise ImportFailed(f"{where}: manifest.json lists no layers for {config_member}")
    config_digest = source.image.config_digest
    copied = _copy_blob(staged, layout, config_member, config_digest, on_bytes, cancel)
    config = json.loads(layout.blob_path(config_digest).read_bytes())
    diff_ids = config.get("rootfs", {}).get("diff_ids") if isinstance(config, dict) else None
    if not isinstance(diff_ids, list) or len(diff_ids) != len(layer_members):
        raise ImportFailed(f"{where}: the config of {config_digest} does not list every layer")
    layers: list[dict[str, Any]] = []
    for member, diff_id in zip(layer_members, diff_ids, strict=True):
        size = staged.size(member)
        if size is None:
            raise ImportFailed(f"{where}: layer {member} is missing or not a file")
        if isinstance(diff_id, str) and layout.has_blob(diff_id):
            if on_bytes is not None:
                on_bytes(size)
            stored = layout.blob_path(diff_id).stat().st_size
            layers.append({"mediaType": OCI_LAYER_TAR, "digest": diff_id, "size": stored})
            continue
        check = _LegacyLayerCheck(where, member, diff_id)
        with staged.open(member) as stream:
            digest, written = layout.write_blob(
                stream, digest=None, size=size, what=member, on_bytes=on_bytes, cancel=cancel,
                check=check,
            )
        copied += written
        layers.append({"mediaType": check.media_type, "digest": digest, "size": written})
    config_size = layout.blob_path(config_digest).stat().st_size
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config_size},
        "layers": layers,
    }
    data = json.dumps(manifest, separators=(",", ":")).encode()
    digest = layout.write_bytes_blob(data, what=f"manifest of {config_digest}")
    descriptor = {"mediaType": OCI_MANIFEST, "digest": digest, "size": len(data)}
    return CopiedImage(descriptor, copied)
