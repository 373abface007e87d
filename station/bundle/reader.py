"""Open a bundle on the media: find its manifest, read it once, list what it holds.

Opening checks names and structure only; it does not hash contents (that is verification).
The manifest and its signatures are read once into memory here, and everything later
(signature checks, the bundle digest, parsing) works on those exact bytes.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import replace
from pathlib import Path

from station.bundle import native, sums, zarf
from station.bundle.contents import classify_entries, disguised_images, read_images
from station.bundle.model import Bundle, BundleFormat, Finding, ItemKind, SignatureFile
from station.bundle.safety import describe_name, open_media_file, read_media_file, walk_media
from station.config import Limits
from station.errors import BundleError, MediaError, UnsafePathError

MAX_SIGNATURE_BYTES = 1024 * 1024
SIGNATURE_SUFFIXES = (".minisig", ".asc", ".gpg", ".sig", ".sshsig", ".cosign.sig")


def _manifest_name(root: Path) -> tuple[str, BundleFormat]:
    for name, fmt in ((native.MANIFEST_NAME, BundleFormat.NATIVE),
                      (sums.MANIFEST_NAME, BundleFormat.SHA256SUMS)):
        try:
            open_media_file(root, name, max_size=1 << 62).close()
        except FileNotFoundError:
            continue
        except UnsafePathError as exc:
            raise BundleError(f"the manifest {name} is not a regular file: {exc.message}") from exc
        return name, fmt
    raise BundleError(
        f"no {native.MANIFEST_NAME} or {sums.MANIFEST_NAME} at the top of {root}",
        hint="this media does not hold a transfer bundle; ask the sender for a signed bundle",
    )


def open_bundle(path: Path, limits: Limits | None = None) -> Bundle:
    """Read the bundle at `path` (the media's folder), without reading file contents."""
    limits = limits or Limits()
    root = Path(path)
    if not root.is_dir():
        raise MediaError(
            f"{root} is not a folder", hint="give the folder where the media is mounted"
        )
    try:
        return _open(root, limits)
    except PermissionError as exc:
        raise MediaError(f"cannot read {root}: permission denied ({exc.filename})") from exc
    except OSError as exc:
        if isinstance(exc, FileNotFoundError | NotADirectoryError):
            raise MediaError(f"{root}: the media changed or vanished while being read") from exc
        raise MediaError(f"cannot read the media at {root}: {exc.strerror or exc}") from exc


def _open(root: Path, limits: Limits) -> Bundle:
    try:
        manifest_name, fmt = _manifest_name(root)
    except BundleError:
        # No manifest of the station's own: a vendor package (by content) is one too.
        package = zarf.find_package(root, os.listdir(root), limits)
        if package is None:
            raise
        return _with_unlisted(zarf.open_zarf(root, package, limits), limits)
    try:
        manifest = read_media_file(root, manifest_name, max_size=limits.max_manifest_bytes)
    except UnsafePathError as exc:
        raise BundleError(f"cannot read {manifest_name}: {exc.message}") from exc
    digest = "sha256:" + hashlib.sha256(manifest).hexdigest()

    tree = walk_media(root, max_entries=limits.max_files)
    refused = {t.path: t.problem for t in tree if t.problem is not None}

    signatures: list[SignatureFile] = []
    signature_names: set[str] = set()
    for entry in tree:
        name = entry.path
        if "/" in name or not name.startswith(manifest_name + "."):
            continue
        if not name.endswith(SIGNATURE_SUFFIXES) or name in refused:
            continue
        try:
            data = read_media_file(root, name, max_size=MAX_SIGNATURE_BYTES)
        except UnsafePathError:
            continue  # reported below as a warning like any other refused entry
        signatures.append(SignatureFile(name=name, data=data))
        signature_names.add(name)

    problems: list[Finding] = []
    info = None
    if fmt is BundleFormat.NATIVE:
        info, items, line_problems = native.parse_manifest(manifest)
        problems.extend(disguised_images(root, items, limits))
    else:
        sums_entries, line_problems = sums.parse_sums(manifest)
        items = classify_entries(root, sums_entries, limits)
    problems.extend(line_problems)
    items, image_problems, warnings = read_images(root, items, limits, refused=refused)
    problems.extend(image_problems)

    entries = tuple(entry for item in items for entry in item.entries)
    listed = {entry.path for entry in entries}
    image_folders = [item.path for item in items if item.kind is ItemKind.OCI_LAYOUT]
    for found in tree:
        if found.path in listed or found.path == manifest_name or found.path in signature_names:
            continue
        shown = describe_name(found.path)
        folder = next((f for f in image_folders if f == "." or found.path.startswith(f + "/")),
                      None)
        if folder is not None:
            problems.append(Finding(
                "unlisted-in-image",
                f"{shown} is inside the image folder {describe_name(folder)} but not listed "
                "in the signed manifest; every file of an image must be signed",
                found.path,
            ))
            continue
        if found.problem is not None:
            message = f"not listed and ignored: {found.problem}"
        else:
            message = f"{shown} is on the media but not listed; it will not be imported"
        warnings.append(Finding("unlisted", message, found.path))
    total = sum(entry.size or 0 for entry in entries)
    if total > limits.max_bundle_bytes:
        problems.append(
            Finding(
                "too-large",
                f"the bundle declares {total} bytes, over the limit of {limits.max_bundle_bytes}",
            )
        )
    st = os.stat(root)
    return Bundle(
        root_identity=(st.st_dev, st.st_ino),
        root=root,
        format=fmt,
        manifest_name=manifest_name,
        manifest=manifest,
        digest=digest,
        entries=entries,
        items=tuple(items),
        signatures=tuple(signatures),
        info=info,
        problems=tuple(problems),
        warnings=tuple(warnings),
    )


def _with_unlisted(bundle: Bundle, limits: Limits) -> Bundle:
    """Media files beside a vendor package are not part of it: listed as warnings."""
    known = set(bundle.package.files if bundle.package else ())
    warnings = [
        Finding("unlisted", f"{describe_name(found.path)} is on the media but not part of the "
                "package; it will not be imported", found.path)
        for found in walk_media(bundle.root, max_entries=limits.max_files)
        if found.path not in known and found.path.split("/", 1)[0] not in known
    ]
    return replace(bundle, warnings=bundle.warnings + tuple(warnings))
