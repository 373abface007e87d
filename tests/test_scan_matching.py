"""OSV range evaluation on real records, each ecosystem compared by its own library."""

from __future__ import annotations

import pytest

from station.scan.matching import VersionError, affects
from station.scan.osv import parse_record
from tests.scan_builders import record


def entry(name: str, index: int = 0):  # type: ignore[no-untyped-def]
    return parse_record(record(name), name).affected[index]


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("2.2.4", (True, "2.2.5")),
        ("2.2.5", (False, "")),
        ("2.2.6", (False, "")),  # between the two intervals
        ("2.3.0", (True, "2.3.2")),
        ("2.3.1", (True, "2.3.2")),
        ("2.3.2", (False, "")),
        ("2.0.0rc1", (True, "2.2.5")),  # a pre-release, PEP 440 order
    ],
)
def test_two_intervals_in_one_ecosystem_range(version: str, expected: tuple[bool, str]) -> None:
    assert affects(entry("PYSEC-2023-62.json"), version) == expected


@pytest.mark.parametrize(
    ("version", "expected"),
    [("0.0.1", True), ("0.0.7", True), ("0.0.8", False), ("1.0.0-beta.1", False),
     ("0.0.8-rc.1", True)],  # a SEMVER pre-release sorts before its release
)
def test_semver_range(version: str, expected: bool) -> None:
    assert affects(entry("GHSA-whgm-jr23-g3j9.json"), version)[0] is expected


def test_versions_list_counts_even_without_a_matching_range() -> None:
    tz = entry("DLA-3051-1.json")
    no_ranges = type(tz)(tz.ecosystem, tz.name, (), tz.versions, tz.severity)
    assert affects(no_ranges, "2019c-3") == (True, "")
    assert affects(no_ranges, "2019c-4") == (False, "")


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("1.1.0l-1~deb9u5", True),
        ("1.1.0l-1~deb9u6", False),
        ("1.1.0l-1~deb9u10", False),  # numeric, not text, order after ~deb9u
        ("1.1.0l-1", False),
        ("1:0.9.8-1", False),  # epoch 1 is newer than any epoch-0 version
        ("0:1.1.0k-1", True),  # an explicit epoch 0 is the same as none
    ],
)
def test_debian_epochs_and_tildes(version: str, expected: bool) -> None:
    assert affects(entry("DLA-3008-1.json"), version)[0] is expected


def test_alpine_release_entries_and_unreadable_versions() -> None:
    v318 = entry("ALPINE-CVE-2025-26519.json", 2)
    assert v318.ecosystem == "Alpine:v3.18"
    assert affects(v318, "1.2.4-r2") == (True, "1.2.4-r3")
    assert affects(v318, "1.2.4-r10") == (False, "")  # -r10 after -r3
    assert affects(v318, "0.9.12-r0") == (False, "")  # before `introduced`
    with pytest.raises(VersionError):
        affects(v318, "not a version")
