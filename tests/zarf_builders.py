"""Zarf packages assembled as zarf v0.25+ writes them (zarf `src/pkg/layout`:
`GenerateChecksums`, `SignPackage`, `ArchivePackage`; `src/pkg/utils/split` for parts):

    zarf.yaml            kind: ZarfPackageConfig, build.aggregateChecksum = sha256(checksums.txt)
    checksums.txt        sorted "<sha256> <path>" lines for every file but the two above
    zarf.yaml.sig        cosign sign-blob over zarf.yaml (base64 DER ECDSA P-256)
    images/              an OCI layout; each entry named by org.opencontainers.image.base.name
    components/NAME.tar  the component's charts, files and manifests
    sboms.tar

archived as one tar at the package root, zstd-compressed, optionally split into
`.part000` (JSON Sha256Sum/Bytes/Count) and `.part001…` chunks.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import shutil
import tarfile
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from station.bundle.compression import _zstd
from station.publish.imagebuild import build_oci_layout

IMAGE = "ghcr.io/acme/web:1.4.2"


def _tar(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1_700_000_000
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def zarf_yaml(aggregate: str, images: list[str]) -> bytes:
    return (
        "kind: ZarfPackageConfig\n"
        "metadata:\n  name: acme-web\n  version: 1.4.2\n  architecture: amd64\n"
        "build:\n  terminal: builder\n  user: ci\n  architecture: amd64\n"
        "  timestamp: Mon, 02 Jun 2025 10:00:00 +0000\n  version: v0.55.4\n"
        f"  aggregateChecksum: {aggregate}\n"
        "components:\n  - name: web\n    required: true\n"
        "    images:\n" + "".join(f"      - {image}\n" for image in images) +
        "    charts:\n      - name: podinfo\n        version: 6.4.0\n        namespace: web\n"
        "    files:\n      - source: motd\n        target: /etc/motd\n"
    ).encode()


def package_tree(folder: Path, images: tuple[str, ...] = (IMAGE,),
                 image_signer: ec.EllipticCurvePrivateKey | None = None) -> Path:
    """The unpacked package folder, without zarf.yaml's checksum fields yet; with
    `image_signer`, each image carries a cosign `.sig` image as zarf pulls them."""
    from tests.signing_builders import attach_cosign_signature

    layout = folder / "images"
    for image in images:
        built = build_oci_layout(layout, image, {"srv/index.html": f"{image}\n".encode()})
        if image_signer is not None:
            attach_cosign_signature(layout, built.manifest_digest, image.rsplit(":", 1)[0],
                                    image_signer)
    index = json.loads((layout / "index.json").read_text())
    for entry in index["manifests"]:  # zarf names images with base.name
        name = entry["annotations"].pop("org.opencontainers.image.ref.name")
        entry["annotations"]["org.opencontainers.image.base.name"] = name
    (layout / "index.json").write_text(json.dumps(index))
    (folder / "components").mkdir()
    (folder / "components" / "web.tar").write_bytes(_tar({
        "web/charts/podinfo-6.4.0.tgz": b"chart bytes",
        "web/files/0/motd": b"welcome\n",
    }))
    (folder / "sboms.tar").write_bytes(_tar({"sbom-viewer-web.html": b"<html/>"}))
    return folder


def finish(folder: Path, key: ec.EllipticCurvePrivateKey | None,
           images: tuple[str, ...] = (IMAGE,)) -> None:
    """Write checksums.txt, zarf.yaml with aggregateChecksum, and zarf.yaml.sig."""
    lines = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        if rel in ("zarf.yaml", "checksums.txt", "zarf.yaml.sig"):
            continue
        lines.append(f"{hashlib.sha256(path.read_bytes()).hexdigest()} {rel}")
    checksums = ("\n".join(sorted(lines)) + "\n").encode()
    (folder / "checksums.txt").write_bytes(checksums)
    manifest = zarf_yaml(hashlib.sha256(checksums).hexdigest(), list(images))
    (folder / "zarf.yaml").write_bytes(manifest)
    if key is not None:
        signature = key.sign(manifest, ec.ECDSA(hashes.SHA256()))
        (folder / "zarf.yaml.sig").write_bytes(base64.b64encode(signature))


def archive(folder: Path, out: Path) -> Path:
    """The package archive: a tar of the folder's contents, zstd-compressed."""
    files = {p.relative_to(folder).as_posix(): p.read_bytes()
             for p in folder.rglob("*") if p.is_file()}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(_zstd.compress(_tar(files)))
    return out


def split(package: Path, chunk: int) -> list[Path]:
    """zarf's split: .part001… hold the bytes, .part000 the JSON promise; the whole goes."""
    data = package.read_bytes()
    parts = []
    for number, start in enumerate(range(0, len(data), chunk), 1):
        part = package.with_name(f"{package.name}.part{number:03d}")
        part.write_bytes(data[start:start + chunk])
        parts.append(part)
    meta = {"Sha256Sum": hashlib.sha256(data).hexdigest(), "Bytes": len(data),
            "Count": len(parts)}
    package.with_name(f"{package.name}.part000").write_text(json.dumps(meta))
    package.unlink()
    return parts


def build_package(media: Path, work: Path, key: ec.EllipticCurvePrivateKey | None) -> Path:
    folder = package_tree(work / "zarf-build")
    finish(folder, key)
    out = archive(folder, media / "zarf-package-acme-web-amd64-1.4.2.tar.zst")
    shutil.rmtree(folder)
    return out
