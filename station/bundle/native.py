"""The project's own manifest, `bundle.json` (format: docs/bundle-format.md).

Parsing is strict: unknown keys, wrong types, duplicate keys or paths are refused, because a
manifest that two programs could read differently is a manifest an attacker can exploit.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Sequence
from typing import Any

from station.bundle import strict_json
from station.bundle.model import BundleInfo, Entry, Finding, Item, ItemKind
from station.bundle.safety import check_relative_path, describe_name
from station.config import Limits
from station.errors import BundleError, UnsafePathError

MANIFEST_NAME = "bundle.json"
FORMAT_ID = "transfer-station/bundle"
FORMAT_VERSION = 1

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_TOP_KEYS = {"format", "version", "name", "channel", "sequence", "created", "producer", "items"}
_ITEM_KEYS = {"path", "size", "sha256", "kind", "references", "files"}
_FILE_KEYS = {"path", "size", "sha256"}


def _require(obj: dict[str, Any], key: str, kind: type, where: str) -> Any:
    if key not in obj:
        raise BundleError(f"{MANIFEST_NAME}: {where} has no {key!r}")
    value = obj[key]
    if kind is int and isinstance(value, bool):
        raise BundleError(f"{MANIFEST_NAME}: {where}: {key!r} must be an integer")
    if not isinstance(value, kind):
        raise BundleError(f"{MANIFEST_NAME}: {where}: {key!r} must be a {kind.__name__}")
    return value


def _check_keys(obj: Any, allowed: set[str], where: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise BundleError(f"{MANIFEST_NAME}: {where} must be an object")
    unknown = set(obj) - allowed
    if unknown:
        raise BundleError(f"{MANIFEST_NAME}: {where} has unknown keys: {sorted(unknown)}")
    return obj


def _file_entry(obj: Any, prefix: str, where: str) -> Entry:
    obj = _check_keys(obj, _FILE_KEYS, where)
    path = _require(obj, "path", str, where)
    size = _require(obj, "size", int, where)
    digest = _require(obj, "sha256", str, where)
    if size < 0:
        raise BundleError(f"{MANIFEST_NAME}: {where}: size must not be negative")
    if not _HEX64.match(digest):
        raise BundleError(f"{MANIFEST_NAME}: {where}: sha256 must be 64 lowercase hex digits")
    return Entry(path=f"{prefix}{path}", sha256=digest, size=size)


MAX_VALUES = 8 * Limits().max_files + 1000
"""JSON values a bundle.json may hold: ~4 per listed file, for as many files as the station
takes; parsing a manifest that large costs ~60 MB, not the ~1 GB 16 MiB of `[[],...]` would."""


def parse_manifest(data: bytes, *, max_values: int = MAX_VALUES
                   ) -> tuple[BundleInfo, list[Item], list[Finding]]:
    """The descriptive fields, the items, and per-path problems (unsafe, duplicate)."""
    doc = _check_keys(
        strict_json.loads(data, label=MANIFEST_NAME, what="the manifest",
                          max_values=max_values),
        _TOP_KEYS, "the manifest",
    )
    if doc.get("format") != FORMAT_ID or doc.get("version") != FORMAT_VERSION:
        raise BundleError(
            f"{MANIFEST_NAME} is not a {FORMAT_ID} version {FORMAT_VERSION} manifest",
            hint="it was made by another tool or a newer station; update this station",
        )
    info = BundleInfo(
        name=_require(doc, "name", str, "the manifest"),
        channel=_require(doc, "channel", str, "the manifest"),
        sequence=_require(doc, "sequence", int, "the manifest"),
        created=_require(doc, "created", str, "the manifest"),
        producer=_require(doc, "producer", str, "the manifest"),
    )
    raw_items = _require(doc, "items", list, "the manifest")
    items: list[Item] = []
    problems: list[Finding] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_items):
        where = f"item {index + 1}"
        raw = _check_keys(raw, _ITEM_KEYS, where)
        path = _require(raw, "path", str, where)
        try:
            kind = ItemKind(_require(raw, "kind", str, where))
        except ValueError:
            kinds = ", ".join(k.value for k in ItemKind)
            raise BundleError(f"{MANIFEST_NAME}: {where}: kind must be one of {kinds}") from None
        references = raw.get("references", [])
        if not isinstance(references, list) or not all(isinstance(r, str) for r in references):
            raise BundleError(f"{MANIFEST_NAME}: {where}: references must be a list of strings")
        if kind is ItemKind.OCI_LAYOUT:
            files = _require(raw, "files", list, where)
            entries = [
                _file_entry(f, f"{path}/", f"{where} file {n + 1}") for n, f in enumerate(files)
            ]
            if "size" in raw or "sha256" in raw:
                raise BundleError(f"{MANIFEST_NAME}: {where}: an oci-layout lists 'files'")
        else:
            if "files" in raw:
                raise BundleError(f"{MANIFEST_NAME}: {where}: only an oci-layout has 'files'")
            entries = [_file_entry({k: raw[k] for k in _FILE_KEYS if k in raw}, "", where)]
        safe: list[Entry] = []
        for entry in entries:
            try:
                check_relative_path(entry.path)
            except UnsafePathError as exc:
                problems.append(Finding("unsafe-path", f"unsafe path: {exc.message}", entry.path))
                continue
            key = unicodedata.normalize("NFC", entry.path)
            if key in seen:
                problems.append(Finding(
                    "duplicate",
                    f"{describe_name(entry.path)} is listed more than once (or as another name "
                    "that is the same text in another Unicode form)",
                    entry.path,
                ))
                continue
            seen.add(key)
            safe.append(entry)
        items.append(Item(path=path, kind=kind, entries=tuple(safe), references=tuple(references)))
    if not items:
        raise BundleError(f"{MANIFEST_NAME} lists no items")
    return info, items, problems


def render_manifest(info: BundleInfo, items: Sequence[Item]) -> bytes:
    """The canonical bytes of a bundle.json (what gets signed)."""
    doc: dict[str, Any] = {
        "format": FORMAT_ID,
        "version": FORMAT_VERSION,
        "name": info.name,
        "channel": info.channel,
        "sequence": info.sequence,
        "created": info.created,
        "producer": info.producer,
        "items": [],
    }
    for item in items:
        raw: dict[str, Any] = {"path": item.path, "kind": item.kind.value}
        if item.kind is ItemKind.OCI_LAYOUT:
            prefix = f"{item.path}/"
            raw["files"] = [
                {"path": e.path.removeprefix(prefix), "size": e.size, "sha256": e.sha256}
                for e in item.entries
            ]
        else:
            (entry,) = item.entries
            raw.update(size=entry.size, sha256=entry.sha256)
        if item.references:
            raw["references"] = list(item.references)
        doc["items"].append(raw)
    return (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
