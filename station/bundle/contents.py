"""What each listed file is: image archive, OCI layout, SBOM, scan report or plain file.

Detection is by content, never by file name, and it never demotes: anything that is an
image, or looks like one to any loader (a tar holding `manifest.json`, `index.json`,
`oci-layout` or `repositories`, at any compression; a folder with an `oci-layout` or an
image `index.json`; a skopeo `dir:` folder), is read as images or refused with
`unreadable-image` and the reader's reason. It is never passed on as a plain file that
someone could `docker load` later. JSON is an SBOM or a scan report only when its own fields
say so. This module describes a bundle on the media, for inspection; verification reads the
images again from the bytes it hashed.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Collection, Iterable, Sequence
from dataclasses import replace
from pathlib import Path

from station.bundle import strict_json
from station.bundle.compression import MAGIC_BYTES, Decompressed, detect
from station.bundle.members import FileSource
from station.bundle.model import Entry, Finding, Item, ItemKind
from station.bundle.naming import assign_references, declared_references
from station.bundle.oci import ItemImages, images_of, read_archive_fd, read_layout_groups
from station.bundle.safety import describe_name, open_media_file
from station.bundle.strict_tar import BLOCK, Profile, StrictTarReader
from station.config import Limits
from station.errors import BundleError, UnsafePathError

_SNIFF_BYTES = 512
IMAGE_MARKERS = frozenset({"manifest.json", "index.json", "oci-layout", "repositories"})


def _read_head(fd: int) -> bytes:
    """The first tar block of a file, decompressed when it starts with a known magic."""
    head = os.pread(fd, _SNIFF_BYTES, 0)
    kind = detect(head[:MAGIC_BYTES])
    if kind is None:
        return head
    offset = 0

    def read_raw(size: int) -> bytes:
        nonlocal offset
        data = os.pread(fd, min(size, 64 * 1024), offset)
        offset += len(data)
        return data

    try:
        return Decompressed(read_raw, kind, label="", max_output=1 << 20).read(BLOCK)
    except BundleError:
        return b""


def is_tar_header(block: bytes) -> bool:
    """Whether `block` is a tar header of any format (its checksum holds)."""
    if len(block) < BLOCK or block[:BLOCK] == bytes(BLOCK):
        return False
    stored = block[148:156].split(b"\x00", 1)[0].strip()
    try:
        value = int(stored or b"x", 8)
    except ValueError:
        return False
    unsigned = sum(block[:148]) + 256 + sum(block[156:BLOCK])
    signed = sum(b - 256 if b > 127 else b for b in block[:148] + block[156:BLOCK]) + 256
    return value in (unsigned, signed)


def tar_markers(fd: int, limits: Limits, label: str) -> list[str]:
    """Image markers among a tar's members, by a tolerant walk (any file type, GNU names).

    Raises BundleError when even this walk cannot read the archive to its end.
    """
    head = os.pread(fd, MAGIC_BYTES, 0)
    kind = detect(head)
    os.lseek(fd, 0, os.SEEK_SET)
    if kind is None:
        source: FileSource | Decompressed = FileSource(fd)
    else:
        source = Decompressed(lambda size: os.read(fd, size), kind, label=label,
                              max_output=limits.max_bundle_bytes)
    reader = StrictTarReader(source, label=label, profile=Profile.LAYER,
                             max_members=limits.max_files, max_member_bytes=limits.max_file_bytes)
    return sorted({member.name for member in reader} & IMAGE_MARKERS)


def _archive_kind(root: Path, path: str, limits: Limits) -> ItemKind:
    """IMAGE_ARCHIVE when the tar holds an image marker (or cannot be walked to tell)."""
    try:
        with open_media_file(root, path, max_size=limits.max_file_bytes) as media_file:
            if not is_tar_header(_read_head(media_file.fd)):
                return ItemKind.FILE
            try:
                markers = tar_markers(media_file.fd, limits, describe_name(path))
            except BundleError:
                return ItemKind.IMAGE_ARCHIVE  # unreadable: reading it as images says why
            return ItemKind.IMAGE_ARCHIVE if markers else ItemKind.FILE
    except (OSError, UnsafePathError):
        return ItemKind.FILE  # missing or unsafe: verification reports it


def file_kind(root: Path, path: str, limits: Limits) -> ItemKind:
    """What one file is, by its content: an image archive, an SBOM, a scan report or a file."""
    kind = _archive_kind(root, path, limits)
    if kind is not ItemKind.FILE:
        return kind
    try:
        with open_media_file(root, path, max_size=limits.max_file_bytes) as media_file:
            head = os.pread(media_file.fd, _SNIFF_BYTES, 0)
    except (OSError, UnsafePathError):
        return ItemKind.FILE
    return json_kind(root, path, limits) if head.lstrip()[:1] == b"{" else ItemKind.FILE


def json_kind(root: Path, path: str, limits: Limits) -> ItemKind:
    """SBOM or scan report when the JSON document says so; anything else is a file."""
    try:
        with open_media_file(root, path, max_size=limits.max_manifest_bytes) as media_file:
            data = os.pread(media_file.fd, media_file.size, 0)
        doc = strict_json.loads(data, label=path, what="the file")
    except (OSError, BundleError):
        return ItemKind.FILE
    if not isinstance(doc, dict):
        return ItemKind.FILE
    if doc.get("bomFormat") == "CycloneDX" or "spdxVersion" in doc:
        return ItemKind.SBOM
    if ("SchemaVersion" in doc and "Results" in doc) or ("matches" in doc and "descriptor" in doc):
        return ItemKind.SCAN_REPORT
    return ItemKind.FILE


def _is_image_index(root: Path, path: str, limits: Limits) -> bool:
    try:
        with open_media_file(root, path, max_size=limits.max_manifest_bytes) as media_file:
            data = os.pread(media_file.fd, media_file.size, 0)
    except (OSError, UnsafePathError):
        return True  # cannot tell: treat the folder as an image, reading it says why
    try:
        doc = strict_json.loads(data, label=path, what="index.json")
    except BundleError:
        return True
    return isinstance(doc, dict) and any(
        strict_json.fold(key) in ("manifests", "schemaversion") for key in doc
    )


def image_folders(root: Path, paths: Iterable[str], limits: Limits) -> list[str]:
    """Folders that some loader reads as an image: `oci-layout`, an image `index.json`, or
    skopeo's `dir:` form (`manifest.json` and `version`)."""
    listed = set(paths)
    folders: set[str] = set()
    for path in listed:
        folder, name = posixpath.split(path)
        skopeo_dir = name == "manifest.json" and posixpath.join(folder, "version") in listed
        layout = name == "oci-layout" or (
            name == "index.json" and _is_image_index(root, path, limits)
        )
        if layout or skopeo_dir:
            folders.add(folder)
    return sorted(folders)


def _outermost(path: str, folders: set[str]) -> str | None:
    """The outermost image folder holding `path` (a layout inside a layout is just files)."""
    found = "" if "" in folders else None
    if found is not None:
        return found
    parts = path.split("/")
    for depth in range(1, len(parts)):
        folder = "/".join(parts[:depth])
        if folder in folders:
            return folder
    return None


def classify_entries(root: Path, entries: Sequence[Entry], limits: Limits) -> list[Item]:
    """Group the entries of a SHA256SUMS bundle into items, by content.

    Each entry is matched to its image folder by walking up its own path (time linear in the
    number of entries, whatever the number of folders).
    """
    folders = set(image_folders(root, (e.path for e in entries), limits))
    grouped: dict[str, list[Entry]] = {}
    items: list[Item] = []
    for entry in entries:
        folder = _outermost(entry.path, folders)
        if folder is not None:
            grouped.setdefault(folder, []).append(entry)
            continue
        items.append(Item(path=entry.path, kind=file_kind(root, entry.path, limits),
                          entries=(entry,)))
    items.extend(
        Item(path=folder or ".", kind=ItemKind.OCI_LAYOUT, entries=tuple(members))
        for folder, members in grouped.items()
    )
    return sorted(items, key=lambda item: item.path)


def disguised_images(root: Path, items: Sequence[Item], limits: Limits) -> list[Finding]:
    """bundle.json items listed as files that some loader would read as an image."""
    files = [item for item in items if item.kind not in (ItemKind.IMAGE_ARCHIVE,
                                                          ItemKind.OCI_LAYOUT)]
    paths = [entry.path for item in files for entry in item.entries]
    problems = [
        Finding("unreadable-image", f"{describe_name(folder or '.')} is an image folder but its "
                "files are listed as plain files; list it as an oci-layout item", folder or ".")
        for folder in image_folders(root, paths, limits)
    ]
    for item in files:
        if len(item.entries) == 1 and _archive_kind(root, item.entries[0].path, limits) is (
            ItemKind.IMAGE_ARCHIVE
        ):
            problems.append(Finding(
                "unreadable-image",
                f"{describe_name(item.path)} is an image archive but is listed as a "
                f"{item.kind.value}; list it as an image-archive item", item.path))
    return problems


def read_images(
    root: Path,
    items: Sequence[Item],
    limits: Limits,
    *,
    refused: Collection[str] = (),
) -> tuple[list[Item], list[Finding], list[Finding]]:
    """Items with their images read from the media (for inspection), problems and warnings.

    An image item that cannot be read is a problem (`unreadable-image`), never a file.
    `refused` are media paths that failed the safety walk (links, devices): an image folder
    holding one is not read at all.
    """
    result: list[Item] = []
    problems: list[Finding] = []
    warnings: list[Finding] = []
    for item in items:
        declared, invalid = declared_references(item)
        problems.extend(invalid)
        if item.kind not in (ItemKind.IMAGE_ARCHIVE, ItemKind.OCI_LAYOUT):
            result.append(item)
            continue
        try:
            if item.kind is ItemKind.OCI_LAYOUT:
                prefix = "" if item.path == "." else f"{item.path}/"
                bad = sorted(p for p in refused if p.startswith(prefix))
                if bad:
                    raise BundleError(f"the layout holds an unsafe entry: {describe_name(bad[0])}")
            found = _read_item_images(root, item, limits)
        except (BundleError, OSError) as exc:
            message = exc.message if isinstance(exc, BundleError) else str(exc)
            problems.append(Finding(
                "unreadable-image",
                f"{describe_name(item.path)}: cannot read the images: {message}",
                item.path,
            ))
            result.append(item)
            continue
        groups, naming_problems, naming_warnings = assign_references(item, found.groups, declared)
        problems.extend(naming_problems)
        warnings.extend(naming_warnings)
        warnings.extend(Finding("artifact-skipped", f"{describe_name(item.path)}: {note}",
                                item.path) for note in found.notes)
        result.append(replace(item, groups=groups, images=images_of(groups),
                                   signatures=found.signatures))
    return result, problems, warnings


def _read_item_images(root: Path, item: Item, limits: Limits) -> ItemImages:
    if item.kind is ItemKind.OCI_LAYOUT:
        folder = root if item.path == "." else root / item.path
        return read_layout_groups(folder, limits, describe_name(item.path))
    with open_media_file(root, item.path, max_size=limits.max_file_bytes) as media_file:
        # Read through the descriptor that passed the safety checks, so a link swapped in
        # after the check cannot redirect the reader.
        return read_archive_fd(media_file.fd, limits, describe_name(item.path))
