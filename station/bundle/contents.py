"""What each listed file is: image archive, OCI layout, SBOM, scan report or plain file.

Detection is by content, never by file name: a `.tar` that holds no image index is a plain
file, and JSON is an SBOM or a scan report only when its own fields say so. The same code
describes a bundle on the media (for inspection) and its staged copy (for import).
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Iterable, Sequence
from dataclasses import replace
from pathlib import Path

from station.bundle.model import Entry, Finding, ImageInfo, Item, ItemKind
from station.bundle.safety import describe_name, open_media_file
from station.config import Limits
from station.errors import BundleError, UnsafePathError

_TAR_MAGIC_OFFSET = 257
_GZIP_MAGIC = b"\x1f\x8b"
_SNIFF_BYTES = 512


def _sniff(root: Path, path: str, limits: Limits) -> bytes:
    with open_media_file(root, path, max_size=limits.max_file_bytes) as media_file:
        return os.pread(media_file.fd, _SNIFF_BYTES, 0)


def _looks_like_tar(head: bytes) -> bool:
    return head[_TAR_MAGIC_OFFSET : _TAR_MAGIC_OFFSET + 5] == b"ustar" or head[:2] == _GZIP_MAGIC


def json_kind(root: Path, path: str, limits: Limits) -> ItemKind:
    """SBOM or scan report when the JSON document says so; anything else is a file."""
    try:
        with open_media_file(root, path, max_size=limits.max_manifest_bytes) as media_file:
            data = os.pread(media_file.fd, media_file.size, 0)
        doc = json.loads(data)
    except (OSError, ValueError, UnsafePathError):
        return ItemKind.FILE
    if not isinstance(doc, dict):
        return ItemKind.FILE
    if doc.get("bomFormat") == "CycloneDX" or "spdxVersion" in doc:
        return ItemKind.SBOM
    if ("SchemaVersion" in doc and "Results" in doc) or ("matches" in doc and "descriptor" in doc):
        return ItemKind.SCAN_REPORT
    return ItemKind.FILE


def _layout_roots(paths: Iterable[str]) -> list[str]:
    """Folders whose listed files include both `oci-layout` and `index.json`."""
    listed = set(paths)
    roots = []
    for path in listed:
        if path == "oci-layout" or path.endswith("/oci-layout"):
            folder = path.removesuffix("oci-layout").rstrip("/")
            index = f"{folder}/index.json" if folder else "index.json"
            if index in listed:
                roots.append(folder)
    # Innermost first would allow nesting tricks; a layout inside a layout is just files.
    return sorted(roots, key=len)


def classify_entries(root: Path, entries: Sequence[Entry], limits: Limits) -> list[Item]:
    """Group the entries of a SHA256SUMS bundle into items, sniffing content where needed."""
    items: list[Item] = []
    claimed: set[str] = set()
    for folder in _layout_roots(e.path for e in entries):
        prefix = f"{folder}/" if folder else ""
        members = tuple(e for e in entries if e.path.startswith(prefix) and e.path not in claimed)
        claimed.update(e.path for e in members)
        items.append(Item(path=folder or ".", kind=ItemKind.OCI_LAYOUT, entries=members))
    for entry in entries:
        if entry.path in claimed:
            continue
        kind = ItemKind.FILE
        try:
            head = _sniff(root, entry.path, limits)
        except (OSError, UnsafePathError):
            head = b""  # missing or unsafe: verification reports it
        if _looks_like_tar(head):
            kind = ItemKind.IMAGE_ARCHIVE
        elif head.lstrip()[:1] == b"{":
            kind = json_kind(root, entry.path, limits)
        items.append(Item(path=entry.path, kind=kind, entries=(entry,)))
    return sorted(items, key=lambda item: item.path)


def read_images(
    root: Path,
    items: Sequence[Item],
    limits: Limits,
    *,
    declared: bool,
    refused: Collection[str] = (),
) -> tuple[list[Item], list[Finding]]:
    """Items with `images` filled from their archives or layouts, and what could not be read.

    `declared` is True when the manifest itself said an item is an image (bundle.json): then an
    unreadable archive is a problem. For SHA256SUMS, a tar that is no image archive becomes a
    plain file. `refused` are media paths that failed the safety walk (links, devices): an OCI
    layout folder holding one is not read at all.
    """
    result: list[Item] = []
    problems: list[Finding] = []
    for item in items:
        if item.kind not in (ItemKind.IMAGE_ARCHIVE, ItemKind.OCI_LAYOUT):
            result.append(item)
            continue
        try:
            if item.kind is ItemKind.OCI_LAYOUT:
                prefix = "" if item.path == "." else f"{item.path}/"
                bad = sorted(p for p in refused if p.startswith(prefix))
                if bad:
                    raise BundleError(f"the layout holds an unsafe entry: {describe_name(bad[0])}")
            images = _read_item_images(root, item, limits)
        except (BundleError, OSError) as exc:
            message = exc.message if isinstance(exc, BundleError) else str(exc)
            if declared or item.kind is ItemKind.OCI_LAYOUT:
                problems.append(
                    Finding(
                        "unreadable-image",
                        f"{describe_name(item.path)}: cannot read the images: {message}",
                        item.path,
                    )
                )
                result.append(item)
            else:
                result.append(replace(item, kind=ItemKind.FILE))
            continue
        result.append(replace(item, images=images))
    return result, problems


def _read_item_images(root: Path, item: Item, limits: Limits) -> tuple[ImageInfo, ...]:
    from station.bundle.oci import read_image_archive, read_oci_layout  # only needed here

    if item.kind is ItemKind.OCI_LAYOUT:
        folder = root if item.path == "." else root / item.path
        return read_oci_layout(folder, limits)
    with open_media_file(root, item.path, max_size=limits.max_file_bytes) as media_file:
        # Read through the descriptor that passed the safety checks, so a link swapped in
        # after the check cannot redirect the reader.
        return read_image_archive(
            Path(f"/proc/self/fd/{media_file.fd}"), limits, display_name=item.path
        )
