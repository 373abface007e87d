"""dpkg's database: `var/lib/dpkg/status` and distroless `var/lib/dpkg/status.d/*`.

Parsed with python-debian's deb822 reader. A stanza counts when dpkg left the package's files
on disk (states `installed`, `half-configured`, `unpacked`, `half-installed`,
`triggers-awaited`, `triggers-pending`; status.d stanzas have no Status and count). Names must
follow Debian policy and versions must parse as Debian versions, else the stanza is a problem.
"""

from __future__ import annotations

import re

from debian.deb822 import Deb822
from debian.debian_support import Version

from station.scan.model import Package, PackageType, Problem

STATUS = "var/lib/dpkg/status"
STATUS_D = "var/lib/dpkg/status.d/"
MAX_VERSION = 256
_NAME = re.compile(r"[a-z0-9][a-z0-9+.-]+")
_ON_DISK = frozenset(
    {"installed", "half-configured", "unpacked", "half-installed", "triggers-awaited",
     "triggers-pending"}
)
_SOURCE = re.compile(r"(?P<name>[a-z0-9][a-z0-9+.-]+)(?:\s+\((?P<version>[^()\s]+)\))?")


def is_database(path: str) -> bool:
    if path == STATUS:
        return True
    name = path.removeprefix(STATUS_D)
    return path.startswith(STATUS_D) and "/" not in name and not name.endswith(".md5sums")


def _valid_version(text: str) -> bool:
    if not text or len(text) > MAX_VERSION:
        return False
    try:
        Version(text)
    except ValueError:
        return False
    return True


def read(path: str, data: bytes) -> tuple[list[Package], list[Problem]]:
    """Every package the stanzas of one dpkg database file list."""
    packages: list[Package] = []
    problems: list[Problem] = []
    text = data.decode("utf-8", errors="replace")
    for number, stanza in enumerate(Deb822.iter_paragraphs(text.splitlines(), use_apt_pkg=False)):
        status = stanza.get("Status")
        if status is not None and status.split()[-1:] and status.split()[-1] not in _ON_DISK:
            continue
        name, version = stanza.get("Package", ""), stanza.get("Version", "")
        where = f"stanza {number + 1} ({name[:40]!r})"
        if not _NAME.fullmatch(name) or not _valid_version(version):
            problems.append(Problem(path, f"{where} has no valid Package name and Version"))
            continue
        source_name, source_version = name, version
        source = stanza.get("Source")
        if source is not None:
            found = _SOURCE.fullmatch(source.strip())
            if found is None or (found["version"] and not _valid_version(found["version"])):
                problems.append(Problem(path, f"{where} has a malformed Source field"))
                continue
            source_name = found["name"]
            source_version = found["version"] or version
        packages.append(
            Package(PackageType.DEB, name, version, path, source_name, source_version)
        )
    return packages, problems
