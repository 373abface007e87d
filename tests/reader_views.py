"""What each reader sees in the same bytes: the strict readers, Python's tarfile, Go's JSON.

A differential test reads one input with two of these and compares the views. The views
name members the same way (`./` and a folder's trailing `/` removed, as the strict reader
reports them), so a difference is a difference in meaning, not in spelling.
"""

from __future__ import annotations

import io
import posixpath
import tarfile
from collections.abc import Mapping
from typing import Any

from station.bundle.strict_tar import Kind, Profile, StrictTarReader

MemberView = tuple[str, str, int, str, bytes]
"""(name, kind, size, link target, data) of one member."""

_TARFILE_KINDS = {
    tarfile.REGTYPE: "file", tarfile.AREGTYPE: "file", tarfile.DIRTYPE: "dir",
    tarfile.SYMTYPE: "symlink", tarfile.LNKTYPE: "hardlink", tarfile.CHRTYPE: "device",
    tarfile.BLKTYPE: "device", tarfile.FIFOTYPE: "fifo",
}


def strict_view(data: bytes, profile: Profile, *, max_members: int = 1000,
                max_member_bytes: int = 1 << 30) -> list[MemberView]:
    """Every member as the strict reader gives it (raises what the reader raises)."""
    reader = StrictTarReader(io.BytesIO(data), label="archive", profile=profile,
                             max_members=max_members, max_member_bytes=max_member_bytes)
    found: list[MemberView] = []
    for member in reader:
        content = b""
        if member.kind is Kind.FILE:
            parts = []
            while chunk := reader.read(4096):
                parts.append(bytes(chunk))
            content = b"".join(parts)
        found.append((member.name, member.kind.value, member.size, member.linkname, content))
    return found


def normalised_name(name: str, kind: str, profile: Profile) -> str:
    """A name spelt as the strict reader reports it."""
    if profile is Profile.LAYER:
        name = name.lstrip("/")
    while name.startswith("./"):
        name = name[2:]
    if kind == "dir":
        name = name.rstrip("/")
    if name in ("", "."):
        return ""
    return posixpath.normpath(name) if profile is Profile.LAYER else name


def tarfile_view(data: bytes, profile: Profile) -> list[MemberView]:
    """Every member as Python's tarfile reads it (raises tarfile's errors)."""
    found: list[MemberView] = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        for info in tar:
            kind = _TARFILE_KINDS.get(info.type, f"other {info.type!r}")
            content = b""
            if info.isreg():
                extracted = tar.extractfile(info)
                assert extracted is not None
                content = extracted.read()
            found.append((normalised_name(info.name, kind, profile), kind, info.size,
                          info.linkname, content))
    return found


# -- Go's encoding/json, as docker and skopeo decode into structs -----------------------

def go_fold(key: str) -> str:
    """How Go's decoder compares a key with a field name (ASCII upper case, and the
    Unicode simple folds that reach ASCII letters: the long s and the Kelvin sign)."""
    special = {"\u017f": "S", "\u212a": "K"}
    return "".join(special.get(c, c.upper() if c.isascii() else c) for c in key)


def go_field(obj: Mapping[str, Any], field: str) -> Any:
    """The value Go puts in the struct field `field`: the last key matching it exactly or
    case-insensitively (Go 1.19 and later prefer no key over another: the last one wins)."""
    found = None
    for key, value in obj.items():
        if key == field or go_fold(key) == go_fold(field):
            found = value
    return found


# -- what a loader finds in an image archive ---------------------------------------------------

MANIFEST_TYPES = ("application/vnd.oci.image.manifest.v1+json",
                  "application/vnd.docker.distribution.manifest.v2+json")


def loader_view(data: bytes) -> list[str]:
    """The config digests a loader finds, as `docker load` and skopeo look for them: Python's
    tarfile for the members (a later copy of a name replacing an earlier, as extraction
    does), manifest.json or index.json decoded the Go way (case-insensitive fields)."""
    import hashlib
    import json

    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
        files: dict[str, bytes] = {}
        links: dict[str, str] = {}
        for info in tar:
            name = normalised_name(info.name, "dir" if info.isdir() else "file", Profile.IMAGE)
            if info.issym():
                links[name] = posixpath.normpath(posixpath.join(posixpath.dirname(name),
                                                                info.linkname))
            elif info.isreg():
                extracted = tar.extractfile(info)
                assert extracted is not None
                files[name] = extracted.read()

    def read(name: str) -> bytes:
        return files[links.get(name, name)]

    def digest(raw: bytes) -> str:
        return "sha256:" + hashlib.sha256(raw).hexdigest()

    if "manifest.json" in files:
        return [digest(read(go_field(entry, "Config"))) for entry in json.loads(read(
            "manifest.json"))]
    found: list[str] = []
    for descriptor in go_field(json.loads(read("index.json")), "manifests") or []:
        if go_field(descriptor, "mediaType") not in MANIFEST_TYPES:
            continue  # an index or an artifact: not followed here
        blob = read("blobs/sha256/" + go_field(descriptor, "digest").removeprefix("sha256:"))
        manifest = json.loads(blob)
        config = go_field(manifest, "config")
        if config is not None and go_field(manifest, "manifests") is None:
            found.append(go_field(config, "digest"))
    return list(dict.fromkeys(found))
