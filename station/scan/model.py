"""Plain data the scanner passes around: packages found in an image, problems, the distro."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class PackageType(StrEnum):
    """Which package database a package came from (named as purl types are)."""

    DEB = "deb"
    APK = "apk"
    PYPI = "pypi"
    NPM = "npm"


@dataclass(frozen=True)
class Package:
    """One installed package.

    `source_name` and `source_version` are what vulnerability records name: Debian records
    name source packages (`openssl` for `libssl3`, and the source version, which differs from
    the binary's after a binNMU), Alpine records name the origin package. For Python and npm
    they equal `name` and `version`.
    """

    type: PackageType
    name: str
    version: str
    location: str
    source_name: str = ""
    source_version: str = ""

    @property
    def match_name(self) -> str:
        return self.source_name or self.name

    @property
    def match_version(self) -> str:
        return self.source_version or self.version


@dataclass(frozen=True)
class Problem:
    """Something in the image that could not be catalogued or matched; the scan is incomplete."""

    path: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}


@dataclass(frozen=True)
class Distro:
    """The distribution of an image, from its os-release (`ID`, `VERSION_ID`)."""

    id: str
    version_id: str

    def osv_ecosystem(self, package_type: PackageType) -> str | None:
        """The OSV ecosystem with release that this distro's OS packages are matched in.

        Debian 12 -> `Debian:12`; Alpine 3.19.1 -> `Alpine:v3.19`; None when the release is
        unknown or the distribution is not one the scanner matches.
        """
        if package_type is PackageType.DEB and self.id == "debian" and self.version_id:
            return f"Debian:{self.version_id.split('.')[0]}"
        if package_type is PackageType.APK and self.id == "alpine" and self.version_id:
            major_minor = ".".join(self.version_id.split(".")[:2]).split("_")[0]
            return f"Alpine:v{major_minor}"
        return None

    def describe(self) -> str:
        return f"{self.id} {self.version_id}".strip()
