"""The one JSON loader for everything read from the media: what it accepts, Go reads the same.

docker, skopeo and containerd decode JSON with Go's `encoding/json`, which differs from
Python's `json` in ways an attacker can use to show the station one document and a loader
another: Go matches struct fields case-insensitively (with Unicode folding: the long s
U+017F is `s`, the Kelvin sign is `k`) and keeps the last of repeated keys, replaces
invalid UTF-8 and lone surrogates with U+FFFD, decodes untyped numbers as float64 and
refuses NaN. So this loader refuses, rather than interprets:

- invalid UTF-8, a byte-order mark, lone surrogate escapes (`"\\ud800"`);
- duplicate keys, and keys that collide case-insensitively (`config` and `Config`);
- NaN, Infinity, integers beyond 2**53 (float64 loses them) and floats that overflow;
- nesting deeper than `MAX_DEPTH`;
- with `max_values`, documents holding more values than that (counted before parsing):
  Python spends up to ~70 bytes on a value written in 2 (`[[],[],...]`), so a 4 MiB
  document would cost 150 MB and a gzip bomb of a few KB could exhaust the station.

Reading a field goes through `field()`, which refuses a key present only in another case:
Go would fill the struct field from it while `dict.get` would not see it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from station.errors import BundleError

MAX_DEPTH = 64
MAX_SAFE_INTEGER = 2**53
_MAX_NUMBER_CHARS = 40


class JsonRefused(ValueError):
    """Raised inside the parser's hooks; turned into a BundleError naming the document."""


def fold(key: str) -> str:
    """How Go's decoder compares a key with a field name (a superset: str.casefold)."""
    return key.casefold()


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    folded: dict[str, str] = {}
    for key, value in pairs:
        if key in result:
            raise JsonRefused(f"duplicate key {key!r}")
        other = folded.get(fold(key))
        if other is not None:
            raise JsonRefused(f"keys {other!r} and {key!r} differ only in case")
        folded[fold(key)] = key
        result[key] = value
    return result


def _integer(text: str) -> int:
    if len(text) > _MAX_NUMBER_CHARS:
        raise JsonRefused(f"the number {text[:20]}... is too long")
    value = int(text)
    if abs(value) > MAX_SAFE_INTEGER:
        raise JsonRefused(f"the number {text} is too large to be read the same everywhere")
    return value


def _float(text: str) -> float:
    if len(text) > _MAX_NUMBER_CHARS:
        raise JsonRefused(f"the number {text[:20]}... is too long")
    value = float(text)
    if not math.isfinite(value):
        raise JsonRefused(f"the number {text} is out of range")
    return value


def _constant(name: str) -> Any:
    raise JsonRefused(f"{name} is not valid JSON")


def _check_tree(value: Any) -> None:
    """Depth bound and lone surrogates, walked without recursion."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, str):
            _check_text(node)
            continue
        if not isinstance(node, dict | list):
            continue
        if depth > MAX_DEPTH:
            raise JsonRefused(f"nested more than {MAX_DEPTH} levels deep")
        if isinstance(node, dict):
            for key, child in node.items():
                _check_text(key)
                stack.append((child, depth + 1))
        else:
            stack.extend((child, depth + 1) for child in node)


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise JsonRefused("a string holds a lone surrogate escape (\\ud800-\\udfff)") from None


def value_bound(data: bytes) -> int:
    """At least the number of values in the document (commas and brackets, plus one)."""
    return data.count(b",") + data.count(b"[") + data.count(b"{") + 1


def loads(data: bytes, *, label: str, what: str, max_values: int | None = None) -> Any:
    """Parse `data` strictly; errors name `label` (the archive or file) and `what`."""
    if max_values is not None and value_bound(data) > max_values:
        raise BundleError(f"{label}: {what} holds more than {max_values} JSON values, over "
                          "the station's limit",
                          hint="the document is a memory bomb or far larger than any image "
                          "or bundle needs")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BundleError(f"{label}: {what} is not valid JSON: not UTF-8 (byte {exc.start})"
                          ) from None
    if text.startswith("\ufeff"):
        raise BundleError(f"{label}: {what} is not valid JSON: it starts with a byte-order mark")
    try:
        value = json.loads(
            text,
            object_pairs_hook=_object,
            parse_int=_integer,
            parse_float=_float,
            parse_constant=_constant,
        )
        _check_tree(value)
    except RecursionError:
        raise BundleError(f"{label}: {what} is not valid JSON: nested too deeply") from None
    except (ValueError, JsonRefused) as exc:
        raise BundleError(f"{label}: {what} is not valid JSON: {exc}") from None
    return value


def load_object(data: bytes, *, label: str, what: str, max_values: int | None = None
                ) -> dict[str, Any]:
    """A JSON object, strictly parsed."""
    value = loads(data, label=label, what=what, max_values=max_values)
    if not isinstance(value, dict):
        raise BundleError(f"{label}: {what} is not a JSON object")
    return value


def field(obj: Mapping[str, Any], key: str, *, label: str, where: str) -> Any:
    """`obj[key]` or None; refuses a key written in another case (Go would read it)."""
    if key in obj:
        return obj[key]
    wanted = fold(key)
    for other in obj:
        if fold(other) == wanted:
            raise BundleError(
                f"{label}: {where}: the key {other!r} is written in another case than "
                f"{key!r}; other tools would read it as {key!r}"
            )
    return None
