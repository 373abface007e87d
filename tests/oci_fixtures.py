"""Builders for image archives in tmp_path: docker save tarballs by hand, raw tar members.

Hostile archives start from a valid one: `layout_members` turns an OCI layout into a dict of
member name to bytes, a test changes one thing, `write_tar` writes it back as a tarball.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def json_bytes(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True).encode()


@dataclass
class Member:
    """A tar member as a test wants it, including kinds a real image never has."""

    name: str
    data: bytes = b""
    type: bytes = tarfile.REGTYPE
    linkname: str = ""
    size: int | None = None  # a header size different from len(data)
    pax: dict[str, str] = field(default_factory=dict)


def write_tar(path: Path, members: list[Member] | Mapping[str, bytes]) -> Path:
    """Write members in order; a dict is taken as regular files, sorted by name."""
    if isinstance(members, Mapping):
        members = [Member(name, data) for name, data in sorted(members.items())]
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for member in members:
            info = tarfile.TarInfo(member.name)
            info.type = member.type
            info.linkname = member.linkname
            info.mtime = 0
            info.mode = 0o644
            info.pax_headers = dict(member.pax)
            if member.type == tarfile.REGTYPE:
                info.size = len(member.data) if member.size is None else member.size
                tar.addfile(info, io.BytesIO(member.data))
            else:
                tar.addfile(info)
    return path


def layout_members(layout: Path) -> dict[str, bytes]:
    """Every regular file of an OCI layout folder, by relative POSIX name."""
    return {
        p.relative_to(layout).as_posix(): p.read_bytes()
        for p in sorted(layout.rglob("*"))
        if p.is_file()
    }


def add_blob(members: dict[str, bytes], data: bytes) -> str:
    """Store `data` as a blob among archive members; return its digest."""
    digest = sha256(data)
    members["blobs/sha256/" + digest.removeprefix("sha256:")] = data
    return digest


def replace_json_blob(members: dict[str, bytes], digest: str, value: Any) -> tuple[str, int]:
    """Swap a JSON blob for a new one stored under its own, correct digest."""
    del members["blobs/sha256/" + digest.removeprefix("sha256:")]
    data = json_bytes(value)
    return add_blob(members, data), len(data)


def blob_json(members: Mapping[str, bytes], digest: str) -> Any:
    return json.loads(members["blobs/sha256/" + digest.removeprefix("sha256:")])


def layer_tar(files: Mapping[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@dataclass
class DockerImageSpec:
    """One image of a hand-built `docker save` archive."""

    tags: list[str]
    layers: list[bytes]
    architecture: str = "amd64"
    variant: str | None = None
    labels: dict[str, str] = field(default_factory=dict)


def docker_config(spec: DockerImageSpec) -> bytes:
    config: dict[str, Any] = {
        "architecture": spec.architecture,
        "os": "linux",
        "created": "2025-06-01T12:00:00Z",
        "config": {"Labels": spec.labels or None, "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [sha256(layer) for layer in spec.layers]},
    }
    if spec.variant:
        config["variant"] = spec.variant
    return json_bytes(config)


def docker_archive_members(specs: list[DockerImageSpec]) -> list[Member]:
    """The members `docker save` (Docker 20.10) writes for these images.

    A layer already written for an earlier image is linked, as docker save does, not copied.
    """
    members: list[Member] = []
    manifest: list[dict[str, Any]] = []
    repositories: dict[str, dict[str, str]] = {}
    written: dict[str, str] = {}
    for spec in specs:
        config = docker_config(spec)
        config_hex = sha256(config).removeprefix("sha256:")
        members.append(Member(f"{config_hex}.json", config))
        paths: list[str] = []
        parent = ""
        for layer in spec.layers:
            layer_id = hashlib.sha256((config_hex + parent + sha256(layer)).encode()).hexdigest()
            parent = layer_id
            path = f"{layer_id}/layer.tar"
            members.append(Member(layer_id, type=tarfile.DIRTYPE))
            members.append(Member(f"{layer_id}/VERSION", b"1.0"))
            digest = sha256(layer)
            if digest in written:
                members.append(Member(path, type=tarfile.SYMTYPE,
                                      linkname=f"../{written[digest]}"))
            else:
                members.append(Member(path, layer))
                written[digest] = path
            paths.append(path)
        manifest.append({"Config": f"{config_hex}.json", "RepoTags": spec.tags or None,
                         "Layers": paths})
        for tag in spec.tags:
            repo, _, name = tag.rpartition(":")
            repositories.setdefault(repo, {})[name] = parent
    members.append(Member("manifest.json", json.dumps(manifest).encode()))
    if repositories:
        members.append(Member("repositories", json.dumps(repositories).encode()))
    return members


def write_holey_tar(path: Path, members: list[Member]) -> Path:
    """A tar whose members may claim more data than they hold: the rest is a hole in the file.

    A member with `size` over `len(data)` becomes a multi-GiB entry that costs no disk space,
    so a test can tell whether a reader reads layer data or seeks over it.
    """
    with path.open("wb") as out:
        for member in members:
            info = tarfile.TarInfo(member.name)
            info.type = member.type
            info.linkname = member.linkname
            info.mode = 0o644
            info.size = len(member.data) if member.size is None else member.size
            if member.type != tarfile.REGTYPE:
                info.size = 0
            out.write(info.tobuf(tarfile.PAX_FORMAT))
            out.write(member.data)
            padded = -(-info.size // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE
            out.seek(padded - len(member.data), io.SEEK_CUR)
        out.write(b"\0" * tarfile.BLOCKSIZE * 2)
    return path
