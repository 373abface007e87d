"""Properties of the strict tar reader, on generated and crafted archives.

- whatever the bytes, it raises only the station's own errors;
- what Python's tarfile writes (PAX or USTAR) it reads back: same names, sizes and data;
- what it accepts, Python's tarfile reads the same way (same members, kinds and data), so
  no archive means one thing to the station and another to a second reader. The same holds
  against Go's reader (skopeo, docker): see tests/real/test_differential.py.
"""

from __future__ import annotations

import contextlib
import io
import tarfile

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from station.bundle.strict_tar import Profile, StrictTarReader, TarError, parse_pax
from station.errors import StationError
from tests import tar_headers as th
from tests.reader_views import strict_view, tarfile_view
from tests.strategies import (
    TarEntry,
    examples,
    mutate,
    mutations,
    tar_entries,
    tarfile_bytes,
)

PROFILES = [Profile.IMAGE, Profile.LAYER]
FORMATS = {"pax": tarfile.PAX_FORMAT, "ustar": tarfile.USTAR_FORMAT}
SETTINGS = settings(max_examples=examples(150), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def _expected(entries: list[TarEntry]) -> list[tuple[str, str, int, str, bytes]]:
    return [(e.name, e.kind, len(e.data), e.linkname, e.data) for e in entries]


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.value)
@pytest.mark.parametrize("fmt", sorted(FORMATS))
@SETTINGS
@given(entries=tar_entries())
def test_what_tarfile_writes_is_read_back_exactly(entries: list[TarEntry], fmt: str,
                                                   profile: Profile) -> None:
    try:
        data = tarfile_bytes(entries, FORMATS[fmt])
    except ValueError:  # a name USTAR cannot hold: nothing to read back
        return
    assert strict_view(data, profile) == _expected(entries)


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.value)
@SETTINGS
@given(data=st.binary(max_size=3 * th.BLOCK))
@example(data=b"")
@example(data=bytes(th.BLOCK))
@example(data=th.Header(size=b"-1").block())
def test_any_bytes_raise_only_station_errors(data: bytes, profile: Profile) -> None:
    with contextlib.suppress(StationError):
        strict_view(data, profile)


def _agree(data: bytes, profile: Profile) -> str:
    """'refused' or 'agreed'; fails when the strict reader accepts what tarfile reads
    differently, or raises anything but a StationError."""
    try:
        strict = strict_view(data, profile, max_member_bytes=1 << 20)
    except StationError:
        return "refused"
    assert tarfile_view(data, profile) == strict
    return "agreed"


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.value)
@settings(SETTINGS, max_examples=examples(400))
@given(entries=tar_entries(max_files=3), changes=st.lists(mutations, min_size=1, max_size=3),
       fmt=st.sampled_from(sorted(FORMATS)))
def test_what_it_accepts_tarfile_reads_the_same(entries: list[TarEntry], changes: list,
                                                fmt: str, profile: Profile) -> None:
    try:
        data = tarfile_bytes(entries, FORMATS[fmt])
    except ValueError:
        return
    _agree(mutate(data, changes), profile)


# -- crafted headers, one per known disagreement between readers ----------------------------

_CONFIG = b'{"config": 1}'
_LONG_FOLDER = "d" * 131
_STAR_PREFIX = _LONG_FOLDER.encode() + b"00000000000 00000000000 "


CRAFTED: dict[str, tuple[bytes, str]] = {
    "size field starting with NUL": (
        th.archive(th.member("a", b"x" * 600, size=b"\x00" + th.octal(600, 11))),
        "size of the header at byte 0 is not an octal number"),
    "negative size": (th.archive(th.member("a", b"", size=b"-1")), "not an octal number"),
    "base-256 size": (th.archive(th.member("a", b"", size=b"\x80" + bytes(10) + b"\x01")),
                      "base-256"),
    "PAX path and GNU long name": (
        th.archive(th.pax_header([("path", "a")]), th.gnu_long_name("b"), th.member("c", b"x")),
        "GNU long-name|both a GNU long name and a PAX path|not POSIX ustar"),
    "bad checksum after the first member": (
        th.archive(th.member("a", b"x"), th.member("b", b"y", checksum=th.octal(1, 8))),
        "wrong checksum"),
    "malformed PAX record": (
        th.archive(th.pax_header(th.pax_record("path", "a") + b"garbage\n"),
                   th.member("c", b"x")), "malformed PAX record"),
    "PAX record with a wrong length": (
        th.archive(th.pax_header(b"30 path=a\n"), th.member("c", b"x")), "wrong length"),
    "empty PAX size": (th.archive(th.pax_header([("size", "")]), th.member("c", b"x")),
                       "not a whole number"),
    "PAX size of 5000 digits": (
        th.archive(th.pax_header([("size", "1" * 5000)]), th.member("c", b"x")),
        "not a whole number|too long|over the limit"),
    "PAX uid beyond 64 bits": (
        th.archive(th.pax_header([("uid", "9" * 30)]), th.member("c", b"x")),
        "not a whole number|too long"),
    "PAX time beyond 64 bits": (
        th.archive(th.pax_header([("mtime", "9" * 30)]), th.member("c", b"x")),
        "not a time|too long"),
    "repeated PAX headers": (
        th.archive(th.pax_header([("path", "a")]), th.pax_header([("path", "b")]),
                   th.member("c", b"x")), "two PAX headers"),
    "global PAX header": (th.archive(th.pax_header([("path", "a")], typeflag=b"g"),
                                     th.member("c", b"x")), "global PAX header"),
    "prefix without ustar magic": (
        th.archive(th.member("manifest.json", b"x", magic=bytes(8), prefix=b"evil")),
        "not POSIX ustar|prefix field without ustar magic"),
    "STAR trailer (Go reads a shorter prefix)": (
        th.archive(th.member("layer.tar", b"x", prefix=_STAR_PREFIX,
                             pad=th.STAR_TRAILER.rjust(12, b"\x00"))),
        "star"),
    "data after the end blocks": (th.member("a", b"x") + th.end() + b"x", "data follows"),
    "single end block then data": (th.member("a", b"x") + bytes(th.BLOCK) + th.member("b"),
                                   "single zero block"),
    "member below a symlinked folder": (
        th.archive(th.symlink("etc", "/etc"), th.member("etc/cron", b"x")),
        "lies below the symbolic link|absolute"),
    "member below a relative symlinked folder": (
        th.archive(th.folder("real"), th.symlink("etc", "real"), th.member("etc/cron", b"x")),
        "lies below the symbolic link"),
    "names that differ only in case": (
        th.archive(th.member("Manifest.json", b"x"), th.member("manifest.json", b"y")),
        "differ only in case"),
    "names equal once normalised (NFC/NFD)": (
        th.archive(th.member("caf\u00e9", b"x"), th.member("cafe\u0301", b"y")),
        "differ only in case or Unicode form"),
    "duplicate member": (th.archive(th.member("a", b"x"), th.member("./a", b"y")),
                         "more than once"),
    "regular file named like a folder": (th.archive(th.member("a/", b"")),
                                         "name ends in '/'"),
}


@pytest.mark.parametrize("case", sorted(CRAFTED))
def test_crafted_headers_are_refused_with_a_reason(case: str) -> None:
    data, reason = CRAFTED[case]
    for profile in (Profile.IMAGE,):
        with pytest.raises(TarError, match=f"(?i){reason}"):
            strict_view(data, profile)


@pytest.mark.parametrize("case", sorted(CRAFTED))
def test_crafted_headers_in_layers_are_refused_or_read_as_tarfile_reads_them(case: str) -> None:
    """Layers allow more (GNU names, repeated names), never a reading tarfile does not share."""
    _agree(CRAFTED[case][0], Profile.LAYER)


def test_star_header_in_a_layer_is_refused() -> None:
    """Go reads 131 bytes of prefix when a header ends in `tar\\0`; Python reads 155."""
    data, _ = CRAFTED["STAR trailer (Go reads a shorter prefix)"]
    with pytest.raises(TarError, match="star trailer"):
        strict_view(data, Profile.LAYER)


def test_typeflag_zero_with_a_trailing_slash_is_not_a_folder_in_layers() -> None:
    """Only the old `\\0` type turns a trailing slash into a folder, for Python and Go alike."""
    data = th.archive(th.member("etc/", b""))
    assert tarfile_view(data, Profile.LAYER)[0][1] == "file"
    assert _agree(data, Profile.LAYER) == "refused"
    old = th.archive(th.member("etc/", b"", typeflag=b"\x00"))
    assert _agree(old, Profile.LAYER) == "agreed"


def test_layer_ending_after_a_global_header_is_refused() -> None:
    """tarfile fails on it ("end of file header") while Go lists the header as an entry."""
    data = th.archive(th.pax_header([("comment", "x")], typeflag=b"g"))
    with pytest.raises(tarfile.ReadError):
        tarfile_view(data, Profile.LAYER)
    with pytest.raises(TarError, match="followed by the end of the archive"):
        strict_view(data, Profile.LAYER)
    commented = th.archive(th.pax_header([("comment", "x")], typeflag=b"g"), th.member("a"))
    assert _agree(commented, Profile.LAYER) == "agreed"


def test_parse_pax_never_converts_an_unbounded_number() -> None:
    with pytest.raises(TarError):
        parse_pax("archive", th.pax_record("size", "1" * 5000), 0)
    reader = StrictTarReader(io.BytesIO(CRAFTED["PAX size of 5000 digits"][0]), label="a",
                             profile=Profile.IMAGE, max_members=10, max_member_bytes=100)
    with pytest.raises(TarError):
        list(reader)
