"""Properties of the strict JSON loader.

- whatever the bytes, it raises only BundleError (never RecursionError, ValueError...);
- what `json.dumps` writes (within its bounds) it loads back equal;
- what it accepts, Python's own `json` loads equal, and Go's decoder (docker, skopeo: keys
  matched to struct fields case-insensitively, the last match winning) fills every field
  with the value `field()` returns: one document, one meaning.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from station.bundle import strict_json
from station.errors import BundleError
from tests.reader_views import go_field, go_fold
from tests.strategies import examples, json_values

SETTINGS = settings(max_examples=examples(300), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
FIELDS = ["config", "Config", "rootfs", "manifests", "mediaType", "digest", "size",
          "schemaVersion", "Layers", "RepoTags", "diff_ids", "os", "architecture", "key"]

# Keys that Go folds onto the fields the station reads, written every way an attacker would.
_KEY_VARIANTS = st.sampled_from([
    "config", "Config", "CONFIG", "conf\u0130g", "rootfs", "RootFS", "manifests", "Manifests",
    "size", "\u017fize", "SIZE", "key", "\u212aey", "KEY", "digest", "Digest", "mediaType",
    "mediatype", "schemaVersion", "Layers", "layers", "other",
])
_RAW_VALUES = st.sampled_from([
    "1", "-0", "1.0", "1e3", "1e400", "-1e400", "NaN", "Infinity", "9007199254740993",
    "123456789012345678901234567890123456789012", "0.1", '"x"', '"\\ud800"', '"\\udc00x"',
    '"\\u0000"', "null", "true", "[]", "{}", '"\\u017fize"',
])


def _key_text(key: str, escaped: bool) -> str:
    return '"' + ("".join(f"\\u{ord(c):04x}" for c in key) if escaped else key) + '"'


@st.composite
def crafted_documents(draw: st.DrawFn) -> bytes:
    """Objects whose keys may repeat or collide in case, with odd numbers and strings."""
    pairs = draw(st.lists(st.tuples(_KEY_VARIANTS, st.booleans(),
                                    st.one_of(_RAW_VALUES, json_values.map(json.dumps))),
                          max_size=6))
    body = ",".join(f"{_key_text(k, esc)}:{v}" for k, esc, v in pairs)
    text = "{" + body + "}"
    wrap = draw(st.integers(0, 3))
    text = "[" * wrap + text + "]" * wrap
    prefix = draw(st.sampled_from(["", "", " ", "\ufeff", "\n"]))
    return (prefix + text).encode("utf-8")


def _load(data: bytes) -> Any:
    return strict_json.loads(data, label="doc.json", what="the document")


@SETTINGS
@given(data=st.one_of(st.binary(max_size=200), st.text(max_size=200).map(
    lambda s: s.encode("utf-8", "surrogatepass")), crafted_documents()))
@example(data=b"[" * 100_000)
@example(data=b"[" * 100_000 + b"]" * 100_000)
@example(data=b'{"a":' * 5000 + b"1" + b"}" * 5000)
@example(data=b"\xef\xbb\xbf{}")
@example(data=b'"\\ud800"')
@example(data=b"1" * 5000)
@example(data=b"1e" + b"9" * 5000)
def test_any_bytes_raise_only_bundle_errors(data: bytes) -> None:
    try:
        _load(data)
    except BundleError as exc:
        assert exc.message.startswith("doc.json: the document is not valid JSON")


def _close(a: Any, b: Any) -> bool:
    """Equal, counting 0.0 and -0.0 and equal floats alike (JSON keeps no float identity)."""
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


@SETTINGS
@given(value=json_values, indent=st.sampled_from([None, 2]), ascii_only=st.booleans())
def test_what_json_dumps_writes_is_loaded_back_equal(value: Any, indent: int | None,
                                                     ascii_only: bool) -> None:
    data = json.dumps(value, indent=indent, ensure_ascii=ascii_only).encode("utf-8")
    assert _close(_load(data), value)


def _objects(value: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            found.append(node)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


@SETTINGS
@given(data=crafted_documents())
@example(data=b'{"Config":"a.json","config":"b.json"}')
@example(data=b'{"rootfs":{},"RootFS":{}}')
@example(data=b'{"manifests":[],"Manifests":[]}')
@example(data=b'{"size":1,"\\u017fize":2}')
@example(data=b'{"key":1,"\\u212aey":2}')
def test_what_it_accepts_python_and_go_read_the_same(data: bytes) -> None:
    try:
        loaded = _load(data)
    except BundleError:
        return
    assert _close(json.loads(data), loaded)
    for obj in _objects(loaded):
        assert len({go_fold(key) for key in obj}) == len(obj), f"keys Go folds together: {obj}"
        for name in FIELDS:
            try:
                mine = strict_json.field(obj, name, label="doc.json", where="x")
            except BundleError:
                continue  # refused: the key is there in another case only
            assert _close(mine, go_field(obj, name)) or (mine is None and go_field(obj, name)
                                                         is None)


@pytest.mark.parametrize("pair", [("Config", "config"), ("rootfs", "RootFS"),
                                  ("manifests", "Manifests"), ("size", "\u017fize"),
                                  ("key", "\u212aey"), ("\u212aEY", "kEy")])
def test_keys_go_folds_together_are_refused(pair: tuple[str, str]) -> None:
    first, second = pair
    data = json.dumps({first: 1, second: 2}).encode()
    assert go_fold(first) == go_fold(second)
    with pytest.raises(BundleError, match="differ only in case"):
        _load(data)


@pytest.mark.parametrize("key", ["\u017fize", "SIZE", "Size"])
def test_a_field_written_only_in_another_case_is_refused(key: str) -> None:
    """Go fills `size` from it; `dict.get("size")` would not see it."""
    obj = _load(json.dumps({key: 7}).encode())
    assert go_field(obj, "size") == 7
    with pytest.raises(BundleError, match="written in another case"):
        strict_json.field(obj, "size", label="doc.json", where="x")


@pytest.mark.parametrize("depth", [strict_json.MAX_DEPTH, strict_json.MAX_DEPTH + 1, 2000,
                                   200_000])
def test_depth_is_bounded_with_a_reason(depth: int) -> None:
    data = b"[" * depth + b"]" * depth
    if depth <= strict_json.MAX_DEPTH:
        assert _load(data) is not None
    else:
        with pytest.raises(BundleError, match="nested"):
            _load(data)


@pytest.mark.parametrize("unit", [b"[],", b"{},", b"0,", b'{"a":[]},'])
def test_documents_with_more_values_than_the_limit_are_refused_before_parsing(unit: bytes
                                                                               ) -> None:
    """4 MiB of `[],` would cost ~150 MB once parsed: it is refused unread."""
    data = b"[" + unit * (4 * 1024 * 1024 // len(unit)) + b"0]"
    with pytest.raises(BundleError, match="holds more than 200000 JSON values"):
        strict_json.loads(data, label="doc.json", what="the document", max_values=200_000)
    small = b"[" + unit * 1000 + b"0]"
    assert strict_json.loads(small, label="doc.json", what="the document",
                             max_values=200_000) is not None


@SETTINGS
@given(value=json_values)
def test_the_value_bound_is_never_below_the_values_parsed(value: Any) -> None:
    data = json.dumps(value).encode()
    count = 0
    stack = [value]
    while stack:
        node = stack.pop()
        count += 1
        if isinstance(node, dict):
            count += len(node)  # the keys
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    assert 2 * strict_json.value_bound(data) >= count
