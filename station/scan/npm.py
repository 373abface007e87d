"""npm packages: `node_modules/<name>/package.json` and `node_modules/@scope/<name>/...`.

Only the package's own manifest counts (not `package.json` files deeper in its tree). The JSON
is read strictly; it must name the package and its version.
"""

from __future__ import annotations

import re

from station.scan.jsondoc import JsonError, load_strict
from station.scan.model import Package, PackageType, Problem

MAX_VERSION = 256
_MANIFEST = re.compile(r"(?:^|.*/)node_modules/(?:@[^/]+/)?[^/@.][^/]*/package\.json")


def is_database(path: str) -> bool:
    return _MANIFEST.fullmatch(path) is not None


def read(path: str, data: bytes) -> tuple[list[Package], list[Problem]]:
    try:
        doc = load_strict(data)
    except JsonError as exc:
        return [], [Problem(path, f"not a package manifest: {exc}")]
    if not isinstance(doc, dict):
        return [], [Problem(path, "not a package manifest: not a JSON object")]
    name, version = doc.get("name"), doc.get("version")
    if not isinstance(name, str) or not name or len(name) > 214:
        return [], [Problem(path, "the manifest has no valid name")]
    if not isinstance(version, str) or not version or len(version) > MAX_VERSION:
        return [], [Problem(path, f"{name[:60]}: the manifest has no valid version")]
    return [Package(PackageType.NPM, name, version, path)], []
