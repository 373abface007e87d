"""apk's database `lib/apk/db/installed`: blank-line separated stanzas of `K:value` lines.

The format is three letters deep (`P` name, `V` version, `o` origin package), so it is read
here rather than with a library. Alpine's OSV records name the origin package.
"""

from __future__ import annotations

import re

from station.scan.model import Package, PackageType, Problem

INSTALLED = "lib/apk/db/installed"
MAX_VERSION = 256
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9+._-]*")
_VERSION = re.compile(r"[0-9][A-Za-z0-9._+~-]*")


def is_database(path: str) -> bool:
    return path == INSTALLED


def _stanzas(text: str) -> list[dict[str, str]]:
    stanzas: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if current:
                stanzas.append(current)
                current = {}
            continue
        key, sep, value = line.partition(":")
        if sep and len(key) == 1:
            current.setdefault(key, value)
    if current:
        stanzas.append(current)
    return stanzas


def read(path: str, data: bytes) -> tuple[list[Package], list[Problem]]:
    packages: list[Package] = []
    problems: list[Problem] = []
    for number, stanza in enumerate(_stanzas(data.decode("utf-8", errors="replace"))):
        name, version = stanza.get("P", ""), stanza.get("V", "")
        origin = stanza.get("o", name)
        if not (_NAME.fullmatch(name) and _NAME.fullmatch(origin)) or not (
            _VERSION.fullmatch(version) and len(version) <= MAX_VERSION
        ):
            problems.append(
                Problem(path, f"stanza {number + 1} ({name[:40]!r}) has no valid P: and V:")
            )
            continue
        packages.append(Package(PackageType.APK, name, version, path, origin, version))
    return packages, problems
