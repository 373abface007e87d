"""Which OSV records affect which catalogued packages.

Versions are compared only with libraries made for each scheme: python-debian for Debian,
`packaging` for PyPI (PEP 440), univers for Alpine (apk rules), npm and SEMVER ranges
(semantic versioning) and the other ecosystems it knows. An `affected` entry applies to an
installed version when the version is listed in its `versions`, or falls inside one of its
ECOSYSTEM/SEMVER ranges, evaluated as the OSV schema says: events sorted by version
(`introduced: "0"` first), `introduced` opens, `fixed` and `limit` close at that version,
`last_affected` closes after it. The fix reported is the lowest `fixed` above the installed
version. GIT ranges name commits, not versions, and are not matched.

OS packages are matched only in their distribution's release: a Debian 12 image (from its
os-release) against `Debian:12` entries (and release-less `Debian` entries), an Alpine 3.19
image against `Alpine:v3.19`. Withdrawn records never reach here (the database leaves them
out). A version that cannot be parsed is a problem, never a silent "not affected".
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from debian.debian_support import Version as DebianVersion
from packaging.version import InvalidVersion
from packaging.version import Version as PypiVersion
from univers import versions as univers

from station.scan.model import Distro, Package, PackageType, Problem
from station.scan.osv import Affected, VersionRange
from station.scan.vulndb import AffectedEntry, VulnDB, name_key

_UNIVERS: dict[str, type[univers.Version]] = {
    "Alpine": univers.AlpineLinuxVersion,
    "npm": univers.SemverVersion,
    "Go": univers.GolangVersion,
    "Maven": univers.MavenVersion,
    "crates.io": univers.SemverVersion,
    "RubyGems": univers.RubygemsVersion,
    "NuGet": univers.NugetVersion,
    "Packagist": univers.ComposerVersion,
}
_LANGUAGE = {PackageType.PYPI: "PyPI", PackageType.NPM: "npm"}


class VersionError(ValueError):
    """A version string the ecosystem's rules cannot read."""


@functools.lru_cache(maxsize=65536)
def parse_version(ecosystem: str, range_type: str, text: str) -> Any:
    """`text` as a comparable version of `ecosystem` (base name); VersionError otherwise."""
    try:
        if range_type == "SEMVER":
            return univers.SemverVersion(text)
        if ecosystem == "Debian":
            return DebianVersion(text)
        if ecosystem == "PyPI":
            return PypiVersion(text)
        kind = _UNIVERS.get(ecosystem)
        if kind is None:
            raise VersionError(f"the scanner does not compare {ecosystem} versions")
        return kind(text)
    except (ValueError, InvalidVersion, univers.InvalidVersion, TypeError) as exc:
        if isinstance(exc, VersionError):
            raise
        raise VersionError(f"{text[:60]!r} is not a {ecosystem} version") from None


def _in_range(installed: str, ecosystem: str, rng: VersionRange) -> tuple[bool, Any, str]:
    """(affected, parsed fix, fix as written) of one range; VersionError when unreadable."""
    version = parse_version(ecosystem, rng.type, installed)
    first = [(e.kind, None, e.version) for e in rng.events
             if e.kind == "introduced" and e.version == "0"]
    rest = [(e.kind, parse_version(ecosystem, rng.type, e.version), e.version)
            for e in rng.events if not (e.kind == "introduced" and e.version == "0")]
    rest.sort(key=lambda event: event[1])
    # Only `<` is used: univers' apk/Gentoo versions define `<` and `>` by their rules but
    # inherit `<=`/`>=` from attrs, which compares the strings ("1.2.4-r10" <= "1.2.4-r3").
    affected = False
    for kind, bound, _ in first + rest:
        if kind == "introduced":
            if bound is None or not version < bound:
                affected = True
        elif kind in ("fixed", "limit"):
            if not version < bound:
                affected = False
        elif kind == "last_affected" and bound < version:
            affected = False
    fixes = [(bound, text) for kind, bound, text in rest if kind == "fixed" and version < bound]
    if not fixes:
        return affected, None, ""
    bound, text = min(fixes, key=lambda fix: fix[0])
    return affected, bound, text


def affects(entry: Affected, installed: str) -> tuple[bool, str]:
    """Whether `entry` affects the installed version, and the lowest fix above it ("" if none).

    Raises VersionError when a version of the installed package or of a range cannot be read.
    """
    ecosystem = entry.base_ecosystem
    affected = installed in entry.versions
    fixes: list[tuple[Any, str]] = []
    for rng in entry.ranges:
        hit, bound, text = _in_range(installed, ecosystem, rng)
        if hit:
            affected = True
            if bound is not None:
                fixes.append((bound, text))
    if not affected:
        return False, ""
    return True, min(fixes, key=lambda fix: fix[0])[1] if fixes else ""


@dataclass(frozen=True)
class VulnerabilityMatch:
    """One record affecting one installed package."""

    id: str
    aliases: tuple[str, ...]
    package: str
    ecosystem: str
    installed: str
    fixed: str
    severity: str
    summary: str
    location: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "aliases": list(self.aliases),
            "package": self.package,
            "ecosystem": self.ecosystem,
            "installed": self.installed,
            "fixed": self.fixed or None,
            "severity": self.severity,
        }


def package_ecosystem(package: Package, distro: Distro | None) -> str | None:
    """The OSV ecosystem (with release) a package is matched in, or None if none applies."""
    if package.type in _LANGUAGE:
        return _LANGUAGE[package.type]
    return None if distro is None else distro.osv_ecosystem(package.type)


def _applies(entry: Affected, ecosystem: str) -> bool:
    """`Debian:12` entries apply to Debian 12 only; a release-less `Debian` entry to every one."""
    if entry.ecosystem == ecosystem:
        return True
    return entry.ecosystem == entry.base_ecosystem == ecosystem.split(":", 1)[0]


@dataclass(frozen=True)
class MatchResult:
    matches: tuple[VulnerabilityMatch, ...]
    problems: tuple[Problem, ...]
    ecosystems: frozenset[str]  # base ecosystems the image's packages needed


def match_packages(
    packages: Iterable[Package],
    distro: Distro | None,
    db: VulnDB,
    lookup: Callable[[str, Iterable[str]], dict[str, list[AffectedEntry]]] | None = None,
) -> MatchResult:
    """Every (record, package) match of an image's packages against the database."""
    lookup = lookup or db.lookup
    problems: list[Problem] = []
    by_ecosystem: dict[str, list[tuple[Package, str]]] = {}
    unmatched: dict[PackageType, str] = {}
    for package in packages:
        ecosystem = package_ecosystem(package, distro)
        if ecosystem is None:
            unmatched.setdefault(package.type, package.location)
            continue
        by_ecosystem.setdefault(ecosystem.split(":", 1)[0], []).append((package, ecosystem))
    for kind, location in unmatched.items():
        shown = distro.describe() if distro else "an unknown distribution (no os-release)"
        problems.append(Problem(location, f"{kind.value} packages of {shown} are catalogued "
                                "but not matched: the scanner matches Debian and Alpine releases"))
    found: dict[tuple[str, str, str, str], VulnerabilityMatch] = {}
    for base, entries in by_ecosystem.items():
        candidates = lookup(base, [package.match_name for package, _ in entries])
        for package, ecosystem in entries:
            for hit in candidates.get(name_key(base, package.match_name), []):
                if not _applies(hit.entry, ecosystem):
                    continue
                try:
                    affected, fixed = affects(hit.entry, package.match_version)
                except VersionError as exc:
                    problems.append(Problem(package.location, f"{package.name} "
                                            f"{package.version} against {hit.record_id}: {exc}"))
                    continue
                if not affected:
                    continue
                key = (hit.record_id, package.name, package.version, package.location)
                found.setdefault(key, VulnerabilityMatch(
                    id=hit.record_id, aliases=hit.aliases, package=package.name,
                    ecosystem=ecosystem, installed=package.version, fixed=fixed,
                    severity=hit.entry.severity, summary=hit.summary, location=package.location,
                ))
    return MatchResult(tuple(found.values()), tuple(problems), frozenset(by_ecosystem))
