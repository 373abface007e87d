"""What an image holds: which files are package databases, and the packages they list.

`read_cap(path)` tells the layer walk which files to keep (and the most bytes each may have);
`catalogue(files)` turns the kept files of the final filesystem into packages. One reader per
package database:

| database | reader |
|---|---|
| `var/lib/dpkg/status`, `var/lib/dpkg/status.d/*` | `dpkg` (python-debian) |
| `lib/apk/db/installed` | `apk` |
| `*.dist-info/METADATA`, `*.egg-info/PKG-INFO`, `*.egg-info` | `python_dist` (packaging) |
| `node_modules/**/package.json` | `npm` |

rpm databases are not read: no well-kept pure-Python reader of rpmdb (SQLite or Berkeley DB
header blobs) exists, so images of rpm distributions have their language packages catalogued
and a problem says their OS packages were not.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from station.scan import apk, dpkg, npm, osrelease, python_dist
from station.scan.model import Distro, Package, Problem

MAX_PACKAGES = 100_000
RPM_DATABASES = (
    "var/lib/rpm/rpmdb.sqlite",
    "var/lib/rpm/Packages",
    "usr/lib/sysimage/rpm/rpmdb.sqlite",
)

Reader = Callable[[str, bytes], tuple[list[Package], list[Problem]]]

_READERS: tuple[tuple[Callable[[str], bool], Reader, int], ...] = (
    (lambda p: p == dpkg.STATUS, dpkg.read, 64 * 1024 * 1024),
    (dpkg.is_database, dpkg.read, 4 * 1024 * 1024),
    (apk.is_database, apk.read, 64 * 1024 * 1024),
    (python_dist.is_database, python_dist.read, 4 * 1024 * 1024),
    (npm.is_database, npm.read, 1024 * 1024),
)
_MARKERS = {name: 64 * 1024 for name in (*osrelease.PATHS, *RPM_DATABASES)}


def read_cap(path: str) -> int | None:
    """The most bytes the scanner keeps of `path`, or None when it does not read that file."""
    marker = _MARKERS.get(path)
    if marker is not None:
        return marker
    for matches, _, cap in _READERS:
        if matches(path):
            return cap
    return None


def _reader(path: str) -> Reader | None:
    return next((reader for matches, reader, _ in _READERS if matches(path)), None)


@dataclass(frozen=True)
class Catalogue:
    """The packages of one image, its distribution, and what could not be catalogued."""

    packages: tuple[Package, ...]
    distro: Distro | None
    problems: tuple[Problem, ...]


def catalogue(files: Mapping[str, bytes], problems: list[Problem]) -> Catalogue:
    """Read every kept package database of the image's final filesystem."""
    found: list[Package] = []
    problems = list(problems)
    distro = None
    for path in osrelease.PATHS:
        if path in files:
            distro = osrelease.parse(files[path])
            break
    for path in RPM_DATABASES:
        if path in files:
            problems.append(Problem(path, "rpm packages are not catalogued (no rpm reader)"))
    for path in sorted(files):
        reader = _reader(path)
        if reader is None:
            continue
        try:
            packages, trouble = reader(path, files[path])
        except Exception as exc:  # a parser library tripping on hostile bytes: not an answer
            packages, trouble = [], [Problem(path, f"cannot be read ({type(exc).__name__})")]
        found.extend(packages)
        problems.extend(trouble)
        if len(found) > MAX_PACKAGES:
            problems.append(Problem(path, f"more than {MAX_PACKAGES} packages; the rest were "
                                    "not catalogued"))
            found = found[:MAX_PACKAGES]
            break
    return Catalogue(tuple(found), distro, tuple(problems))
