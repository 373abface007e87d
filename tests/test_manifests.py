"""SHA256SUMS and bundle.json parsing: the honest forms, and strict refusal of odd ones."""

from __future__ import annotations

import hashlib
import json

import pytest

from station.bundle import native, sums
from station.bundle.model import BundleInfo, Entry, Item, ItemKind
from station.errors import BundleError

HEX = hashlib.sha256(b"x").hexdigest()


def test_sums_text_and_binary_forms() -> None:
    data = f"{HEX}  text.txt\r\n{HEX.upper()} *binary.bin\n\n".encode()
    entries, problems = sums.parse_sums(data)
    assert problems == []
    assert [e.path for e in entries] == ["text.txt", "binary.bin"]
    assert all(e.sha256 == HEX and e.size is None for e in entries)


def test_sums_escaped_backslash_name_is_still_unsafe() -> None:
    entries, problems = sums.parse_sums(f"\\{HEX}  a\\\\b\n".encode())
    assert entries == []
    assert problems[0].code == "unsafe-path"


def test_sums_malformed_line_names_the_line() -> None:
    with pytest.raises(BundleError, match="line 2"):
        sums.parse_sums(f"{HEX}  ok\nnot a checksum line\n".encode())


def test_sums_unsafe_and_duplicate_lines_are_problems_not_crashes() -> None:
    data = f"{HEX}  ../up\n{HEX}  /abs\n{HEX}  ok\n{HEX}  ok\n".encode()
    entries, problems = sums.parse_sums(data)
    assert [e.path for e in entries] == ["ok"]
    assert [p.code for p in problems] == ["unsafe-path", "unsafe-path", "duplicate"]


def test_sums_not_utf8() -> None:
    with pytest.raises(BundleError, match="not UTF-8"):
        sums.parse_sums(b"\xff\xfe")


def _manifest(**overrides: object) -> bytes:
    doc: dict[str, object] = {
        "format": native.FORMAT_ID,
        "version": 1,
        "name": "n",
        "channel": "c",
        "sequence": 3,
        "created": "2026-01-01T00:00:00Z",
        "producer": "p",
        "items": [{"path": "files/a", "size": 1, "sha256": HEX, "kind": "file"}],
    }
    doc.update(overrides)
    return json.dumps(doc).encode()


def test_native_round_trip() -> None:
    info = BundleInfo("n", "ops/stable", 7, "2026-01-01T00:00:00Z", "builder")
    items = [
        Item("images/app.tar", ItemKind.IMAGE_ARCHIVE, (Entry("images/app.tar", HEX, 10),),
             ("registry.example.org/ops/app:1",)),
        Item("layout", ItemKind.OCI_LAYOUT,
             (Entry("layout/index.json", HEX, 2), Entry("layout/oci-layout", HEX, 3))),
        Item("sbom/a.json", ItemKind.SBOM, (Entry("sbom/a.json", HEX, 4),)),
    ]
    parsed_info, parsed_items, problems = native.parse_manifest(
        native.render_manifest(info, items)
    )
    assert parsed_info == info
    assert parsed_items == items
    assert problems == []


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"version": 2}, "version 1"),
        ({"extra": 1}, "unknown keys"),
        ({"sequence": "3"}, "must be a int"),
        ({"sequence": True}, "must be an integer"),
        ({"items": []}, "lists no items"),
        ({"items": [{"path": "a", "size": -1, "sha256": HEX, "kind": "file"}]}, "negative"),
        ({"items": [{"path": "a", "size": 1, "sha256": "ab", "kind": "file"}]}, "64 lowercase"),
        ({"items": [{"path": "a", "size": 1, "sha256": HEX, "kind": "exe"}]}, "kind must be"),
        ({"items": [{"path": "a", "sha256": HEX, "kind": "file"}]}, "no 'size'"),
    ],
)
def test_native_refuses_malformed_manifests(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(BundleError, match=message):
        native.parse_manifest(_manifest(**overrides))


def test_native_refuses_duplicate_keys() -> None:
    data = _manifest().replace(b'"name": "n"', b'"name": "n", "name": "m"')
    with pytest.raises(BundleError, match="duplicate key 'name'"):
        native.parse_manifest(data)


def test_native_unsafe_paths_are_problems() -> None:
    items = [
        {"path": "../x", "size": 1, "sha256": HEX, "kind": "file"},
        {"path": "ok", "size": 1, "sha256": HEX, "kind": "file"},
    ]
    _, parsed, problems = native.parse_manifest(_manifest(items=items))
    assert [p.code for p in problems] == ["unsafe-path"]
    assert [e.path for item in parsed for e in item.entries] == ["ok"]
