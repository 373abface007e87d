"""Zarf packages (`zarf package create`), read as bundles whose manifest lives inside them.

Format implemented: the Zarf package layout of zarf v0.25 and later (package schema
`v1alpha1`, `kind: ZarfPackageConfig`), as written by zarf's `src/pkg/layout`
(`PackagePaths`: `GenerateChecksums`, `SignPackage`, `ArchivePackage`) and split by
`src/pkg/utils/split` (or `layout/split.go`):

- one tar, zstd-compressed unless `metadata.uncompressed` (`zarf-package-NAME-ARCH[-VER].tar.zst`
  or `.tar`), holding at its root `zarf.yaml`, `checksums.txt`, optionally `zarf.yaml.sig`,
  `images/` (an OCI image layout), `components/<name>.tar` and `sboms.tar`;
- `checksums.txt`: sorted lines `<sha256 hex> <path>` for every file but `zarf.yaml` and
  `checksums.txt`, each ending in a newline; `zarf.yaml`'s `build.aggregateChecksum` is the
  sha256 of `checksums.txt`, so the signed `zarf.yaml` pins every byte;
- `zarf.yaml.sig`: `cosign sign-blob` over `zarf.yaml` (base64 DER ECDSA), checked by the
  station's cosign verifier against `NAME.cosign.pub` keys: a vendor package needs no
  re-wrapping;
- split packages: `NAME.part000` holds JSON `{"Sha256Sum", "Bytes", "Count"}` and
  `NAME.part001…partNNN` the archive's bytes in order, read here as one stream in place.

The bundle digest is the sha256 of `zarf.yaml`. Its entries are the lines of `checksums.txt`:
the image layout (`images/`) becomes one OCI layout item named by zarf's
`org.opencontainers.image.base.name` annotations, components and SBOMs become files.
Opening reads the package once (headers, and the small documents it needs); verification
reads it once more, splitting it into staged blobs (`station.verify.packages`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from station.bundle import strict_json
from station.bundle.compression import MAGIC_BYTES, Compression, Decompressed, detect
from station.bundle.members import Blob, FileSource, Members, wants_bytes
from station.bundle.model import (
    Bundle,
    BundleFormat,
    BundleInfo,
    Entry,
    Finding,
    Item,
    ItemKind,
    PackageFiles,
    SignatureFile,
)
from station.bundle.oci_json import CONTAINERD_NAME, REF_NAME
from station.bundle.safety import check_relative_path, describe_name, open_media_file
from station.bundle.strict_tar import ByteSource, Prefixed, Profile, StrictTarReader
from station.config import Limits
from station.errors import BundleError, UnsafePathError

MANIFEST = "zarf.yaml"
CHECKSUMS = "checksums.txt"
SIGNATURE = "zarf.yaml.sig"
IMAGES = "images/"
BASE_NAME = "org.opencontainers.image.base.name"
META_FILES = frozenset({MANIFEST, CHECKSUMS, SIGNATURE})
_PART = re.compile(r"(?P<base>.+)\.part(?P<n>[0-9]{3})")
_CHECKSUM_LINE = re.compile(r"([0-9a-f]{64}) (.+)")
_SPLIT_KEYS = ("Sha256Sum", "Bytes", "Count")
_SIGNATURE_TAG = re.compile(r":sha256-[0-9a-f]{64}\.(?:sig|att|sbom)$")


# -- finding a package on the media ------------------------------------------------------


def find_package(root: Path, names: Sequence[str], limits: Limits) -> PackageFiles | None:
    """The Zarf package at the top of the media, if there is one (by content)."""
    top = sorted(name for name in names if "/" not in name)
    for name in top:
        match = _PART.fullmatch(name)
        if match and match["n"] == "000":
            return _split_package(root, match["base"], top, limits)
    for name in top:
        if name.endswith((".tar.zst", ".tar")) and _holds_manifest(root, name, limits):
            return PackageFiles(name, (name,))
    return None


def _holds_manifest(root: Path, name: str, limits: Limits) -> bool:
    """Whether the tar (plain or zstd) at `name` has a `zarf.yaml` member."""
    try:
        with open_media_file(root, name, max_size=limits.max_file_bytes) as media:
            kind = detect(os.pread(media.fd, MAGIC_BYTES, 0))
            if kind not in (None, Compression.ZSTD):
                return False
            source = _open_stream(FileSource(media.fd), kind, name, limits)
            reader = StrictTarReader(source, label=name, profile=Profile.LAYER,
                                     max_members=limits.max_files,
                                     max_member_bytes=limits.max_file_bytes)
            return any(member.name == MANIFEST for member in reader)
    except (OSError, BundleError):
        return False


def _open_stream(raw: ByteSource, kind: Compression | None, label: str, limits: Limits
                 ) -> ByteSource:
    if kind is None:
        return raw
    return Decompressed(lambda size: raw.read(size), kind, label=label,
                        max_output=limits.max_bundle_bytes)


def _split_package(root: Path, base: str, top: Sequence[str], limits: Limits) -> PackageFiles:
    label = f"{base}.part000"
    try:
        with open_media_file(root, label, max_size=4096) as media:
            data = os.pread(media.fd, media.size, 0)
    except (OSError, UnsafePathError) as exc:
        raise BundleError(f"{describe_name(label)}: cannot read the split package's first "
                          f"part: {exc}") from None
    meta = strict_json.load_object(data, label=label, what="the split metadata")
    values = [strict_json.field(meta, key, label=label, where="split metadata")
              for key in _SPLIT_KEYS]
    digest, size, count = values
    if not (isinstance(digest, str) and re.fullmatch(r"[0-9a-f]{64}", digest)
            and isinstance(size, int) and not isinstance(size, bool) and size >= 0
            and isinstance(count, int) and not isinstance(count, bool) and 0 < count < 1000):
        raise BundleError(f"{describe_name(label)}: the split metadata must give Sha256Sum "
                          "(64 hex), Bytes and Count (1 to 999)")
    parts = tuple(f"{base}.part{n:03d}" for n in range(1, count + 1))
    found = sorted(name for name in top if (m := _PART.fullmatch(name)) and m["base"] == base)
    if found != [label, *parts]:
        missing = sorted(set(parts) - set(found))
        extra = sorted(set(found) - {label, *parts})
        raise BundleError(
            f"{describe_name(base)}: the split package promises {count} parts; "
            + (f"missing {', '.join(missing)}" if missing else "")
            + (f"; unexpected {', '.join(extra)}" if extra else ""),
            hint="copy every part of the package onto the media",
        )
    return PackageFiles(base, parts, digest, size)


# -- zarf.yaml and checksums.txt ---------------------------------------------------------


@dataclass(frozen=True)
class ZarfManifest:
    """What the station reads from zarf.yaml."""

    info: BundleInfo
    aggregate_checksum: str
    images: tuple[str, ...]
    components: tuple[tuple[str, str], ...]  # (name, what it carries, in words)


def parse_manifest(data: bytes) -> ZarfManifest:
    """zarf.yaml, strictly: a ZarfPackageConfig with build.aggregateChecksum."""
    if len(data) > 16 * 1024 * 1024:
        raise BundleError(f"{MANIFEST} is too large")
    from station.bundle.strict_yaml import YAMLError, load_strict  # only for Zarf packages

    try:
        doc = load_strict(data.decode("utf-8"))
    except (UnicodeDecodeError, YAMLError) as exc:
        raise BundleError(f"{MANIFEST} is not valid YAML: {exc}") from None
    if not isinstance(doc, dict) or doc.get("kind") != "ZarfPackageConfig":
        raise BundleError(f"{MANIFEST} is not a Zarf package definition (kind "
                          "ZarfPackageConfig)")
    metadata = doc.get("metadata") or {}
    build = doc.get("build") or {}
    if not isinstance(metadata, dict) or not isinstance(build, dict):
        raise BundleError(f"{MANIFEST}: metadata and build must be mappings")
    aggregate = build.get("aggregateChecksum")
    if not isinstance(aggregate, str) or not re.fullmatch(r"[0-9a-f]{64}", aggregate):
        raise BundleError(f"{MANIFEST} has no build.aggregateChecksum (64 hex digits)",
                          hint="only packages built by zarf v0.25 or later can be verified")
    images: list[str] = []
    components: list[tuple[str, str]] = []
    raw_components = doc.get("components") or []
    if not isinstance(raw_components, list):
        raise BundleError(f"{MANIFEST}: components must be a list")
    for component in raw_components:
        if not isinstance(component, dict):
            raise BundleError(f"{MANIFEST}: a component must be a mapping")
        name = str(component.get("name", ""))
        found = [str(ref) for ref in component.get("images") or []]
        images.extend(found)
        charts = [f"{c.get('name')}@{c.get('version', '?')}" for c in
                  component.get("charts") or [] if isinstance(c, dict)]
        files = [str(f.get("target")) for f in component.get("files") or []
                 if isinstance(f, dict)]
        parts = [f"images {', '.join(found)}" if found else "",
                 f"charts {', '.join(charts)}" if charts else "",
                 f"files {', '.join(files)}" if files else ""]
        components.append((name, "; ".join(p for p in parts if p) or "no images, charts "
                           "or files"))
    info = BundleInfo(
        name=str(metadata.get("name", "")),
        channel="zarf",
        sequence=0,
        created=str(build.get("timestamp", "")),
        producer=f"zarf {build.get('version', '?')} "
                 f"({build.get('user', '?')}@{build.get('terminal', '?')})",
    )
    return ZarfManifest(info, aggregate, tuple(dict.fromkeys(images)), tuple(components))


def parse_checksums(data: bytes) -> tuple[list[Entry], list[Finding]]:
    """checksums.txt: `<hex> <path>` lines; unsafe or repeated paths are problems."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise BundleError(f"{CHECKSUMS} is not UTF-8 text") from None
    if not text.endswith("\n"):
        raise BundleError(f"{CHECKSUMS} does not end with a newline (zarf writes one)")
    entries: list[Entry] = []
    problems: list[Finding] = []
    seen: set[str] = set()
    for number, line in enumerate(text[:-1].split("\n"), 1):
        match = _CHECKSUM_LINE.fullmatch(line)
        if match is None:
            raise BundleError(f"{CHECKSUMS} line {number} is not '<sha256> <path>'")
        digest, path = match.groups()
        try:
            check_relative_path(path)
        except UnsafePathError as exc:
            problems.append(Finding("unsafe-path", f"{CHECKSUMS}: {exc.message}", path))
            continue
        if path in seen or path in (MANIFEST, CHECKSUMS):
            problems.append(Finding("duplicate", f"{CHECKSUMS} lists {describe_name(path)} "
                                    "twice or lists a file it cannot pin", path))
            continue
        seen.add(path)
        entries.append(Entry(path, digest))
    return entries, problems


def name_images(index: bytes) -> bytes:
    """images/index.json with zarf's image names where the station reads names.

    zarf names each image in `org.opencontainers.image.base.name`; the OCI walk reads
    `io.containerd.image.name`. The entry's own name is copied there (nothing else changes;
    the original bytes stay pinned by checksums.txt)."""
    try:
        doc = json.loads(index)
        manifests = doc.get("manifests") if isinstance(doc, dict) else None
    except ValueError:
        return index  # the strict walk reports it
    if not isinstance(manifests, list):
        return index
    changed = False
    for entry in manifests:
        annotations = entry.get("annotations") if isinstance(entry, dict) else None
        if not isinstance(annotations, dict):
            continue
        name = annotations.get(BASE_NAME)
        if isinstance(name, str) and CONTAINERD_NAME not in annotations and \
                REF_NAME not in annotations:
            annotations[CONTAINERD_NAME] = name
            changed = True
    return json.dumps(doc).encode() if changed else index


def items_of(entries: Sequence[Entry], manifest: ZarfManifest) -> list[Item]:
    """The images layout as one item, every other listed file as a file item."""
    images = tuple(e for e in entries if e.path.startswith(IMAGES))
    items = []
    if images:
        # zarf lists the cosign signatures it carries among the images; they are read as
        # signatures (station.bundle.attached), not as images to name.
        names = tuple(ref for ref in manifest.images if not _SIGNATURE_TAG.search(ref))
        items.append(Item(path="images", kind=ItemKind.OCI_LAYOUT, entries=images,
                          references=names))
    components = dict(manifest.components)
    for entry in entries:
        if entry.path.startswith(IMAGES):
            continue
        item = Item(path=entry.path, kind=ItemKind.FILE, entries=(entry,))
        stem = entry.path.removeprefix("components/").removesuffix(".tar")
        if entry.path.startswith("components/") and stem in components:
            item = Item(path=entry.path, kind=ItemKind.FILE, entries=(entry,),
                        description=f"component {stem}: {components[stem]}")
        items.append(item)
    return items


def check_aggregate(checksums: bytes, manifest: ZarfManifest) -> list[Finding]:
    found = hashlib.sha256(checksums).hexdigest()
    if found == manifest.aggregate_checksum:
        return []
    return [Finding("checksum-mismatch", f"{CHECKSUMS} hashes to {found[:16]}…, but "
                    f"{MANIFEST} pins {manifest.aggregate_checksum[:16]}… (aggregateChecksum)",
                    CHECKSUMS)]


def keep_image_blob(members: Members, name: str, blob: Blob, data: bytes | None) -> None:
    """Add an `images/` member to the layout view under its layout name."""
    inner = name.removeprefix(IMAGES)
    if inner == "index.json" and data is not None:
        data = name_images(data)
    members.add_file(inner, blob, data if data is not None and wants_bytes(
        inner, blob.size, data[:1]) else None)


# -- reading the package -----------------------------------------------------------------


class PartsSource:
    """The package's media files read one after the other as one byte stream (opening)."""

    def __init__(self, root: Path, parts: Sequence[str], limits: Limits) -> None:
        self._root = root
        self._parts = list(parts)
        self._limits = limits
        self._media: Any = None
        self.hash = hashlib.sha256()
        self.size = 0

    def read(self, size: int, /) -> bytes:
        while True:
            if self._media is None:
                if not self._parts:
                    return b""
                name = self._parts.pop(0)
                try:
                    self._media = open_media_file(self._root, name,
                                                  max_size=self._limits.max_file_bytes)
                except (OSError, UnsafePathError) as exc:
                    raise BundleError(f"{describe_name(name)}: cannot read this part of the "
                                      f"package: {exc}") from None
            data = os.read(self._media.fd, min(size, 1 << 20))
            if data:
                self.hash.update(data)
                self.size += len(data)
                return data
            self._media.close()
            self._media = None

    def close(self) -> None:
        if self._media is not None:
            self._media.close()
            self._media = None


def opened(raw: ByteSource, head: bytes, label: str, limits: Limits) -> ByteSource:
    """The tar stream of a package whose first bytes are `head` (zstd or plain)."""
    kind = detect(head[:MAGIC_BYTES])
    if kind not in (None, Compression.ZSTD):
        raise BundleError(f"{label}: a Zarf package is a tar or a zstd tar, not {kind.value}")
    return _open_stream(raw, kind, label, limits)


def images_view(members: Members, label: str, limits: Limits) -> Members:
    """The `images/` members of a package as an OCI layout's members."""
    view = Members(label, limits)
    for name, blob in members.files.items():
        if name.startswith(IMAGES):
            keep_image_blob(view, name, blob, members.small(name))
    return view


def keep_small(member: Any, reader: StrictTarReader) -> tuple[Blob, bytes | None]:
    """Opening: keep the package's own documents and the layout's JSON; skip the rest."""
    name = member.name
    wanted = name in META_FILES or (
        name.startswith(IMAGES) and member.size <= 4 * 1024 * 1024)
    if not wanted:
        return Blob(member.size), None
    data = b""
    while chunk := reader.read(1 << 20):
        data += bytes(chunk)
    if name.startswith(IMAGES) and not wants_bytes(name.removeprefix(IMAGES), len(data),
                                                   data[:1]):
        return Blob(member.size), None
    return Blob(member.size), data


def describe_package(
    members: Members, package: PackageFiles, label: str, limits: Limits
) -> tuple[bytes, ZarfManifest, list[Entry], list[Item], list[Finding], list[Finding]]:
    """What a walked package holds: zarf.yaml, entries with sizes, items, problems, warnings.

    Problems: a missing or unpinned file, checksums.txt not matching aggregateChecksum,
    images that do not read; everything but zarf.yaml, checksums.txt and zarf.yaml.sig must
    be pinned by checksums.txt."""
    manifest_bytes = members.small(MANIFEST)
    checksums = members.small(CHECKSUMS)
    if manifest_bytes is None or checksums is None:
        raise BundleError(f"{label} holds no {MANIFEST} and {CHECKSUMS}: not a Zarf package "
                          "this station reads (zarf v0.25 or later)")
    manifest = parse_manifest(manifest_bytes)
    listed, problems = parse_checksums(checksums)
    problems += check_aggregate(checksums, manifest)
    warnings: list[Finding] = []
    entries = []
    for entry in listed:
        blob = members.files.get(entry.path)
        if blob is None:
            problems.append(Finding("missing", f"{CHECKSUMS} lists {describe_name(entry.path)}"
                                    f" but the package does not hold it", entry.path))
            continue
        entries.append(Entry(entry.path, entry.sha256, blob.size))
    pinned = {entry.path for entry in listed}
    for name in members.files:
        if name not in pinned and name not in META_FILES:
            problems.append(Finding("unlisted-in-image", f"{describe_name(name)} is in the "
                                    f"package but not pinned by {CHECKSUMS}", name))
    if members.links:
        problems.append(Finding("unsafe-path", f"{label} holds links "
                                f"({describe_name(next(iter(members.links)))})", label))
    return manifest_bytes, manifest, entries, items_of(entries, manifest), problems, warnings


def split_problems(package: PackageFiles, total: int, digest: str) -> list[Finding]:
    """What `.part000` promised about the parts, against what was read."""
    if package.split_sha256 is None:
        return []
    found: list[Finding] = []
    if total != package.split_bytes:
        found.append(Finding("size-mismatch", f"the parts of {describe_name(package.name)} "
                             f"hold {total} bytes; .part000 says {package.split_bytes}",
                             package.name))
    elif digest != package.split_sha256:
        found.append(Finding("checksum-mismatch", f"the parts of {describe_name(package.name)}"
                             " do not hash to what .part000 says (a part is damaged, "
                             "replaced or out of order)", package.name))
    return found


def open_zarf(root: Path, package: PackageFiles, limits: Limits) -> Bundle:
    """The bundle a Zarf package on the media is: read once, headers and small documents."""
    from station.bundle.members import read_members
    from station.bundle.naming import assign_references, declared_references
    from station.bundle.oci import images_of, read_groups

    label = describe_name(package.name)
    source = PartsSource(root, package.parts, limits)
    try:
        head = source.read(MAGIC_BYTES)
        stream = opened(Prefixed(head, source.read), head, label, limits)
        members = read_members(stream, label=label, limits=limits, on_file=keep_small)
    except BundleError as exc:
        if package.split_sha256 is not None:  # say which promise broke, if one did
            while source.read(1 << 20):
                pass
            for problem in split_problems(package, source.size, source.hash.hexdigest()):
                raise BundleError(problem.message, hint="copy every part of the package "
                                  "again, unchanged") from exc
        raise
    finally:
        source.close()
    manifest_bytes, manifest, _, items, problems, warnings = describe_package(
        members, package, label, limits)
    result: list[Item] = []
    for item in items:
        if item.kind is not ItemKind.OCI_LAYOUT:
            result.append(item)
            continue
        declared, invalid = declared_references(item)
        problems += invalid
        try:
            found = read_groups(images_view(members, f"{label}: images", limits), limits)
        except BundleError as exc:
            problems.append(Finding("unreadable-image", f"{label}: images: {exc.message}",
                                    item.path))
            result.append(item)
            continue
        groups, naming, notes = assign_references(item, found.groups, declared)
        problems += naming
        warnings += notes
        warnings += [Finding("artifact-skipped", f"{label}: {note}", item.path)
                     for note in found.notes]
        result.append(replace(item, groups=groups, images=images_of(groups),
                              signatures=found.signatures))
    signature = members.small(SIGNATURE)
    signatures = (SignatureFile(SIGNATURE, signature),) if signature is not None else ()
    return Bundle(
        root=root, format=BundleFormat.ZARF, manifest_name=MANIFEST,
        manifest=manifest_bytes, digest="sha256:" + hashlib.sha256(manifest_bytes).hexdigest(),
        entries=tuple(entry for item in result for entry in item.entries),
        items=tuple(result), signatures=signatures, info=manifest.info,
        problems=tuple(problems), warnings=tuple(warnings),
        package=package, root_identity=(os.stat(root).st_dev, os.stat(root).st_ino),
    )
