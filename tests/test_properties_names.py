"""Properties of the readers of names and manifests: references, SHA256SUMS, bundle.json.

- whatever the input, only the station's own errors;
- a reference normalised once is stable, and names the same image as the original;
- what the real `sha256sum` writes is read back with the same names and digests;
- what `render_manifest` writes, `parse_manifest` reads back equal.
"""

from __future__ import annotations

import contextlib
import hashlib
import subprocess
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from station.bundle import native, sums
from station.bundle.model import BundleInfo, Entry, Item, ItemKind
from station.errors import BundleError, StationError
from station.references import (
    DEFAULT_DOMAIN,
    MAX_NAME_LENGTH,
    ReferenceError,
    normalise,
    parse_reference,
)
from tests.strategies import examples, member_names, references

SETTINGS = settings(max_examples=examples(300), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                           HealthCheck.function_scoped_fixture])


@SETTINGS
@given(text=st.one_of(st.text(max_size=80), references().map(str.upper), references(),
                      st.from_regex(r"[a-zA-Z0-9._/:@-]{0,60}", fullmatch=True)))
@example(text="UPPER/Case:tag")
@example(text="a:b:c")
@example(text="../x")
@example(text="a" * 256)
@example(text="docker.io/" + "a" * 250 + ":1")
@example(text="r" * 248)
@example(text="a@sha256:" + "A" * 64)
@example(text="\u017fample/x:1")
def test_any_text_raises_only_reference_errors(text: str) -> None:
    try:
        parsed = parse_reference(text)
    except ReferenceError:
        return
    assert parsed.domain and parsed.path
    assert parsed.path == parsed.path.lower()
    assert len(parsed.repository) <= MAX_NAME_LENGTH + len("docker.io/library/")


@SETTINGS
@given(text=references())
def test_a_normalised_reference_is_stable_and_names_the_same_image(text: str) -> None:
    try:
        once = normalise(text)
    except ReferenceError:
        return  # e.g. a 64-hex repository name or an over-long one: refused with a reason
    assert normalise(once) == once
    original, again = parse_reference(text), parse_reference(once)
    assert again == original
    first = once.split("/", 1)[0]
    assert "." in first or ":" in first or first == "localhost", (
        f"{once}: its first component must name the registry, so docker reads it alike")
    if original.domain == DEFAULT_DOMAIN and "/" not in text.split("@")[0].split(":")[0]:
        assert original.path.startswith("library/")


@pytest.mark.parametrize("text", ["r" * 248, "a/" + "r" * 246 + ":1",
                                  "index.docker.io/" + "r" * 240])
def test_a_name_too_long_once_normalised_is_refused(text: str) -> None:
    """docker counts the 255-character limit on the normalised name (`docker.io/library/...`);
    a name accepted short would be refused once written in full (found by fuzzing)."""
    with pytest.raises(ReferenceError, match="longer than 255 characters once written in full"):
        parse_reference(text)
    assert normalise("r" * 237) == "docker.io/library/" + "r" * 237 + ":latest"


@pytest.mark.parametrize("text", ["[2]/x", "[ab]/x:1", "[2]/x/y@sha256:" + "0" * 64])
def test_a_bracketed_first_component_without_a_colon_is_refused(text: str) -> None:
    """The grammar reads `[2]` as an IPv6 host, docker's split (no `.` or `:`) as a path
    component of docker.io, where it is invalid: docker refuses it, so does the station
    (found by fuzzing: it normalised to `docker.io/[2]/x:latest`, which does not parse)."""
    with pytest.raises(ReferenceError, match="neither a registry host nor a repository"):
        parse_reference(text)
    assert normalise("[::1]:5000/x") == "[::1]:5000/x:latest"


@pytest.mark.parametrize("text", ["a" * 100_000 + "!", "a-" * 50_000 + "!", "a." * 50_000 + "A",
                                  ("a" * 60 + ".") * 1600 + "/!", "a" + "_" * 100_000 + "b",
                                  "a/" * 50_000 + ":" + "x" * 200])
def test_parsing_long_input_takes_linear_time(text: str) -> None:
    started = time.perf_counter()
    with pytest.raises(ReferenceError):
        parse_reference(text)
    assert time.perf_counter() - started < 0.5


# -- SHA256SUMS -------------------------------------------------------------------------------

@settings(SETTINGS, max_examples=examples(150))
@given(data=st.one_of(st.binary(max_size=300), st.lists(st.tuples(
    st.from_regex(r"\\?[0-9a-fA-F]{62,66}", fullmatch=True), st.sampled_from([" ", "*", "  "]),
    st.text(max_size=20)), max_size=4).map(
        lambda lines: "\n".join(f"{d} {m}{n}" for d, m, n in lines).encode())))
@example(data=b"\\" + b"a" * 64 + b"  a\\rb\n")
@example(data=b"\\" + b"a" * 64 + b"  a\\qb\n")
def test_any_sums_file_raises_only_bundle_errors(data: bytes) -> None:
    try:
        entries, problems = sums.parse_sums(data)
    except BundleError:
        return
    assert entries or problems


@settings(SETTINGS, max_examples=examples(60))
@given(files=st.dictionaries(member_names, st.binary(max_size=64), min_size=1, max_size=5),
       binary=st.booleans())
def test_what_sha256sum_writes_is_read_back(tmp_path_factory: pytest.TempPathFactory,
                                            files: dict[str, bytes], binary: bool) -> None:
    root = tmp_path_factory.mktemp("sums")
    names = []
    for name, data in files.items():
        path = root / name
        if name == "-" or path.exists() or any(p.is_file() for p in path.parents
                                               if p != root):  # `-` is stdin to sha256sum
            continue
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        except (IsADirectoryError, NotADirectoryError, FileExistsError):
            continue
        names.append(name)
    if not names:
        return
    output = subprocess.run(["sha256sum", *(["-b"] if binary else []), "--", *names],
                            cwd=root, capture_output=True, check=True).stdout
    entries, problems = sums.parse_sums(output)
    assert problems == []
    assert entries == [Entry(name, hashlib.sha256((root / name).read_bytes()).hexdigest())
                       for name in names]


def test_sha256sum_escapes_of_carriage_returns_are_understood(tmp_path: Path) -> None:
    """coreutils 9 writes `\\r` for a carriage return: the name is unsafe, not malformed."""
    (tmp_path / "a\rb").write_bytes(b"x")
    output = subprocess.run(["sha256sum", "a\rb"], cwd=tmp_path, capture_output=True,
                            check=True).stdout
    entries, problems = sums.parse_sums(output)
    assert entries == []
    assert [(p.code, p.path) for p in problems] == [("unsafe-path", "a\rb")]


# -- bundle.json --------------------------------------------------------------------------

_TEXT = st.text(max_size=30).filter(lambda s: not any(0xD800 <= ord(c) <= 0xDFFF for c in s))
_HEX = st.from_regex(r"[0-9a-f]{64}", fullmatch=True)


@st.composite
def bundle_items(draw: st.DrawFn) -> list[Item]:
    paths = draw(st.lists(member_names, min_size=1, max_size=4, unique=True))
    items: list[Item] = []
    for path in paths:
        kind = draw(st.sampled_from(list(ItemKind)))
        refs = tuple(draw(st.lists(references(), max_size=2)))
        if kind is ItemKind.OCI_LAYOUT:
            files = draw(st.lists(member_names, min_size=1, max_size=3, unique=True))
            entries = tuple(Entry(f"{path}/{f}", draw(_HEX), draw(st.integers(0, 2**40)))
                            for f in files)
        else:
            entries = (Entry(path, draw(_HEX), draw(st.integers(0, 2**40))),)
        items.append(Item(path, kind, entries, refs))
    return items


@settings(SETTINGS, max_examples=examples(150))
@given(info=st.builds(BundleInfo, _TEXT, _TEXT, st.integers(0, 2**53), _TEXT, _TEXT),
       items=bundle_items())
def test_what_render_manifest_writes_parse_manifest_reads_back(info: BundleInfo,
                                                               items: list[Item]) -> None:
    parsed_info, parsed_items, problems = native.parse_manifest(
        native.render_manifest(info, items))
    assert parsed_info == info
    seen: set[str] = set()
    for item, parsed in zip(items, parsed_items, strict=True):
        assert (parsed.path, parsed.kind, parsed.references) == (item.path, item.kind,
                                                                 item.references)
        expected = [e for e in item.entries if e.path not in seen]
        seen.update(e.path for e in item.entries)
        assert list(parsed.entries) == expected
    assert all(p.code == "duplicate" for p in problems)


@settings(SETTINGS, max_examples=examples(150))
@given(data=st.one_of(st.binary(max_size=300), st.builds(
    lambda info, items, cut: native.render_manifest(info, items)[:cut],
    st.builds(BundleInfo, _TEXT, _TEXT, st.integers(-5, 2**60), _TEXT, _TEXT),
    bundle_items(), st.integers(0, 2000))))
@example(data=b'{"format":"transfer-station/bundle","version":1,"items":[{"path":1}]}')
@example(data=b'{"format":"transfer-station/bundle","version":true}')
def test_any_manifest_raises_only_station_errors(data: bytes) -> None:
    with contextlib.suppress(StationError):
        native.parse_manifest(data)
