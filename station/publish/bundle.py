"""`station bundle create`: pack files and image archives into a signed bundle.json bundle.

Each input is copied into the output folder while it is hashed (one read per input), so the
manifest describes exactly the bytes written. Image archives must be readable as images here
(the same readers the station uses), so a sender cannot ship a bundle the kiosk cannot read.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from station import __version__
from station.bundle import native
from station.bundle.contents import file_kind
from station.bundle.model import BundleInfo, Entry, Item, ItemKind
from station.bundle.safety import check_relative_path
from station.config import Limits
from station.errors import BundleError, StationError, UnsafePathError, UsageError
from station.publish import minisign_keys

_FOLDERS = {
    ItemKind.IMAGE_ARCHIVE: "images",
    ItemKind.SBOM: "sbom",
    ItemKind.SCAN_REPORT: "reports",
    ItemKind.FILE: "files",
}


def _copy_hashing(source: Path, target: Path) -> Entry:
    digest = hashlib.sha256()
    size = 0
    with source.open("rb") as src, target.open("xb") as dst:
        while chunk := src.read(1 << 20):
            digest.update(chunk)
            dst.write(chunk)
            size += len(chunk)
    return Entry(path="", sha256=digest.hexdigest(), size=size)


def _utc_now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def create_bundle(
    out: Path,
    *,
    secret_key: Path,
    files: Sequence[Path] = (),
    image_archives: Sequence[Path] = (),
    name: str,
    channel: str = "default",
    sequence: int = 1,
    producer: str | None = None,
    kinds: Mapping[Path, ItemKind] | None = None,
    created: str | None = None,
) -> Path:
    """Write OUT/bundle.json, OUT/bundle.json.minisig and the inputs; return the manifest path.

    `kinds` overrides the kind detected from a file's content (SBOM, scan report, file).
    OUT must not exist or be an empty folder; on any failure it is removed again.
    """
    key = minisign_keys.load_secret_key(secret_key)
    if not files and not image_archives:
        raise UsageError("nothing to put in the bundle", hint="name files or --image-archive TARs")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UsageError(f"{out} already exists and is not an empty folder")
    for source in (*files, *image_archives):
        if not source.is_file():
            raise UsageError(f"{source} is not a file")
    out.mkdir(parents=True, exist_ok=True)
    try:
        items = _pack(out, files, image_archives, kinds or {})
        info = BundleInfo(
            name=name,
            channel=channel,
            sequence=sequence,
            created=created or _utc_now(),
            producer=producer or f"{os.uname().nodename} (transfer-station {__version__})",
        )
        manifest = native.render_manifest(info, items)
        native.parse_manifest(manifest)  # what we write, we can read
        comment = f"bundle {name} channel {channel} sequence {sequence}"
        signature = minisign_keys.sign(manifest, key, trusted_comment=comment)
        manifest_path = out / native.MANIFEST_NAME
        manifest_path.write_bytes(manifest)
        (out / f"{native.MANIFEST_NAME}.minisig").write_bytes(signature)
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    return manifest_path


def _kind_of(path: Path, asked: ItemKind | None, limits: Limits) -> ItemKind:
    found = file_kind(path.parent, path.name, limits)
    if found is ItemKind.IMAGE_ARCHIVE:
        return found
    return asked or found


def _pack(
    out: Path, files: Sequence[Path], archives: Sequence[Path], kinds: Mapping[Path, ItemKind]
) -> list[Item]:
    from station.bundle.oci import read_image_archive

    limits = Limits()
    items: list[Item] = []
    taken: set[str] = set()
    # A file is filed by its content: a docker save passed as a plain file crosses as the
    # image it is (and is read as one), never as a file someone could `docker load` later.
    inputs = [(p, ItemKind.IMAGE_ARCHIVE) for p in archives] + [
        (p, _kind_of(p, kinds.get(p), limits)) for p in files
    ]
    for source, kind in inputs:
        rel = f"{_FOLDERS.get(kind, 'files')}/{source.name}"
        try:
            check_relative_path(rel)
        except UnsafePathError as exc:
            raise UsageError(f"{source}: {exc.message}", hint="rename the file") from exc
        if rel in taken:
            raise UsageError(f"two inputs would both be stored as {rel}", hint="rename one")
        taken.add(rel)
        target = out / rel
        target.parent.mkdir(exist_ok=True)
        entry = _copy_hashing(source, target)
        references: tuple[str, ...] = ()
        if kind is ItemKind.IMAGE_ARCHIVE:
            try:
                images = read_image_archive(target, limits)
            except BundleError as exc:
                raise StationError(f"{source} is not an image archive: {exc.message}") from exc
            references = tuple(ref for image in images for ref in image.references)
        items.append(
            Item(
                path=rel,
                kind=kind,
                entries=(Entry(path=rel, sha256=entry.sha256, size=entry.size),),
                references=references,
            )
        )
    return items
