"""Builders for the scanner tests: multi-layer OCI images, OSV export zips, package databases.

Images are real OCI layouts (index.json, manifest, config, layer blobs by digest) with layers
written as tar, tar+gzip or tar+zstd, members in the order given, so whiteouts, opaque
folders, links and hostile members can be placed exactly.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import tarfile
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.oci_fixtures import Member

try:  # Python 3.14+
    from compression import zstd  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # the official backport, the one zstd library of the project
    from backports import zstd  # type: ignore[import-not-found,no-redef,unused-ignore]

FIXTURES = Path(__file__).parent / "fixtures" / "osv"
VENV_SITE = next(Path(__file__).resolve().parents[1].joinpath(".venv", "lib").glob(
    "python3*/site-packages"))
MEDIA_TYPES = {
    "tar": "application/vnd.oci.image.layer.v1.tar",
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
}
REF_NAME = "org.opencontainers.image.ref.name"


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def record(name: str) -> dict[str, Any]:
    """A real OSV record from tests/fixtures/osv (origin in its README)."""
    doc: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return doc


def osv_zip(path: Path, records: Iterable[Mapping[str, Any]]) -> Path:
    """An OSV export zip like osv.dev's <Ecosystem>/all.zip: one <ID>.json per record."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for doc in records:
            archive.writestr(f"{doc['id']}.json", json.dumps(doc, indent=1))
    return path


def layer_tar(entries: Sequence[Member] | Mapping[str, bytes]) -> bytes:
    """A layer tar with the entries in the order given (a dict: regular files, sorted)."""
    if isinstance(entries, Mapping):
        entries = [Member(name, data) for name, data in sorted(entries.items())]
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for member in entries:
            info = tarfile.TarInfo(member.name)
            info.type = member.type
            info.linkname = member.linkname
            info.mode = 0o755 if member.type == tarfile.DIRTYPE else 0o644
            info.pax_headers = dict(member.pax)
            if member.type == tarfile.REGTYPE:
                info.size = len(member.data)
                tar.addfile(info, io.BytesIO(member.data))
            else:
                tar.addfile(info)
    return buffer.getvalue()


def compress(data: bytes, kind: str) -> bytes:
    if kind == "gzip":
        return gzip.compress(data, compresslevel=1, mtime=0)
    if kind == "zstd":
        return zstd.compress(data, level=1)
    return data


@dataclass(frozen=True)
class BuiltImage:
    manifest_digest: str
    config_digest: str
    layer_digests: tuple[str, ...]


def _blob(layout: Path, data: bytes) -> str:
    found = digest(data)
    path = layout / "blobs" / "sha256" / found.removeprefix("sha256:")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return found


def build_image(
    layout: Path,
    reference: str | None,
    layers: Sequence[Sequence[Member] | Mapping[str, bytes] | bytes],
    *,
    compression: str | Sequence[str] = "gzip",
) -> BuiltImage:
    """Add an image of these layers (bottom first) to the OCI layout `layout`.

    A layer given as bytes is used as the uncompressed tar as it is (hostile tars).
    """
    kinds = [compression] * len(layers) if isinstance(compression, str) else list(compression)
    diffs, descriptors = [], []
    for entries, kind in zip(layers, kinds, strict=True):
        tar = entries if isinstance(entries, bytes) else layer_tar(entries)
        blob = compress(tar, kind)
        diffs.append(digest(tar))
        descriptors.append({"mediaType": MEDIA_TYPES[kind], "digest": _blob(layout, blob),
                            "size": len(blob)})
    config = json.dumps({
        "architecture": "amd64", "os": "linux", "created": "2026-01-01T00:00:00Z",
        "config": {}, "rootfs": {"type": "layers", "diff_ids": diffs},
    }, sort_keys=True).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": _blob(layout, config), "size": len(config)},
        "layers": descriptors,
    }, sort_keys=True).encode()
    entry: dict[str, Any] = {"mediaType": "application/vnd.oci.image.manifest.v1+json",
                             "digest": _blob(layout, manifest), "size": len(manifest)}
    if reference is not None:
        entry["annotations"] = {REF_NAME: reference}
    index_path = layout / "index.json"
    index = json.loads(index_path.read_text()) if index_path.exists() else {
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": []}
    index["manifests"].append(entry)
    index_path.write_text(json.dumps(index))
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    return BuiltImage(entry["digest"], digest(config), tuple(d["digest"] for d in descriptors))


def os_release(distro: str, version_id: str) -> bytes:
    return f'PRETTY_NAME="test"\nID={distro}\nVERSION_ID="{version_id}"\n'.encode()


def dpkg_stanza(name: str, version: str, source: str | None = None) -> str:
    lines = [f"Package: {name}", "Status: install ok installed", "Architecture: amd64",
             f"Version: {version}"]
    if source:
        lines.insert(3, f"Source: {source}")
    lines.append(f"Description: {name} for a scanner test")
    return "\n".join(lines) + "\n"


def real_dpkg_status() -> bytes:
    """This machine's own dpkg database."""
    return Path("/var/lib/dpkg/status").read_bytes()


def dpkg_version(status: bytes, package: str) -> str:
    """The Version of `package` in a dpkg status file."""
    text = status.decode()
    found = re.search(rf"^Package: {re.escape(package)}\n(?:[^\n]+\n)*?Version: (\S+)", text,
                      re.MULTILINE)
    assert found, package
    return found.group(1)


def real_dist_info(distribution: str) -> dict[str, bytes]:
    """The METADATA (and RECORD) of a distribution installed in the project's own .venv."""
    folder = next(VENV_SITE.glob(f"{distribution}-*.dist-info"))
    base = f"usr/lib/python3/dist-packages/{folder.name}"
    return {f"{base}/{name}": (folder / name).read_bytes()
            for name in ("METADATA", "RECORD") if (folder / name).exists()}


def with_version(files: Mapping[str, bytes], version: str) -> dict[str, bytes]:
    """Real metadata with its Version: header set to an older release (an outdated install)."""
    return {
        path: re.sub(rb"^Version: .*$", b"Version: " + version.encode(), data, count=1,
                     flags=re.MULTILINE) if path.endswith("METADATA") else data
        for path, data in files.items()
    }
