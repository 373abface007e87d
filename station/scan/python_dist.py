"""Installed Python distributions: `*.dist-info/METADATA`, `*.egg-info/PKG-INFO` and
`*.egg-info` files, read with `packaging.metadata` (the core metadata email format)."""

from __future__ import annotations

from packaging.metadata import parse_email
from packaging.version import InvalidVersion, Version

from station.scan.model import Package, PackageType, Problem

MAX_VERSION = 256


def is_database(path: str) -> bool:
    folder, _, name = path.rpartition("/")
    if name == "METADATA":
        return folder.endswith(".dist-info")
    if name == "PKG-INFO":
        return folder.endswith(".egg-info")
    return name.endswith(".egg-info")


def read(path: str, data: bytes) -> tuple[list[Package], list[Problem]]:
    try:
        raw, _ = parse_email(data)
    except (ValueError, TypeError, LookupError) as exc:  # the email parser's own failures
        return [], [Problem(path, f"not core metadata: {exc}")]
    name, version = raw.get("name"), raw.get("version")
    if not isinstance(name, str) or not name.strip() or len(name) > 256:
        return [], [Problem(path, "no Name: header")]
    if not isinstance(version, str) or not version.strip() or len(version) > MAX_VERSION:
        return [], [Problem(path, f"{name[:60]}: no Version: header")]
    try:
        Version(version)
    except InvalidVersion:
        return [], [Problem(path, f"{name[:60]}: {version[:60]!r} is not a PEP 440 version")]
    return [Package(PackageType.PYPI, name.strip(), version.strip(), path)], []
