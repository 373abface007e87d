"""A CycloneDX JSON SBOM of what a scan catalogued, written with cyclonedx-python-lib.

Each image is a `container` component (bom-ref: its config digest) whose nested components
are its packages, each with a purl (`pkg:deb/debian/...?distro=debian-12`,
`pkg:apk/alpine/...`, `pkg:pypi/...`, `pkg:npm/...`); the image depends on its packages.
"""

from __future__ import annotations

from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.output.json import JsonV1Dot6
from packageurl import PackageURL

from station.scan.model import Distro, Package, PackageType
from station.scan.report import ScanReport


def purl(package: Package, distro: Distro | None) -> PackageURL:
    qualifiers: dict[str, str] = {}
    if package.type in (PackageType.DEB, PackageType.APK) and distro is not None:
        qualifiers["distro"] = f"{distro.id}-{distro.version_id}"
    if package.type is PackageType.DEB and package.source_name != package.name:
        qualifiers["upstream"] = package.source_name
    namespace: str | None = None
    name = package.name
    if package.type is PackageType.DEB:
        namespace = distro.id if distro is not None else "debian"
    elif package.type is PackageType.APK:
        namespace = "alpine"
    elif package.type is PackageType.NPM and name.startswith("@") and "/" in name:
        namespace, name = name.split("/", 1)
    return PackageURL(package.type.value, namespace, name, package.version, qualifiers or None)


def build_bom(report: ScanReport) -> Bom:
    bom = Bom()
    for number, image in enumerate(report.images):
        children = [
            Component(
                name=package.name,
                version=package.version,
                type=ComponentType.LIBRARY,
                purl=purl(package, image.distro),
                bom_ref=f"{image.config_digest}#{n}",
            )
            for n, package in enumerate(image.packages)
        ]
        container = Component(
            name=image.title,
            version=image.config_digest,
            type=ComponentType.CONTAINER,
            bom_ref=f"{image.config_digest}@{number}",
            components=children,
        )
        bom.components.add(container)
        bom.register_dependency(container, children)
    return bom


def cyclonedx_json(report: ScanReport) -> str:
    """The SBOM as CycloneDX 1.6 JSON text."""
    return str(JsonV1Dot6(build_bom(report)).output_as_string(indent=2))
