"""Read OSV export zips strictly and within bounds.

An export is what osv.dev publishes per ecosystem (`Debian/all.zip`, `PyPI/all.zip`...): a zip
of JSON files, one OSV record each. It is recognised by its content, never its name
(`is_osv_export`). Everything in it is checked before the station relies on it: member names,
sizes (declared and read), strict JSON, record fields and their types, RFC 3339 times. One
record that cannot be read refuses the whole export (`NotAnExport`): a database with holes
would report images clean that are not.

Only what matching needs is kept: id, modified, withdrawn, aliases (with `upstream`, where
Debian and Alpine name the CVE), summary, severity and, per `affected` entry, the ecosystem,
package name, ECOSYSTEM/SEMVER ranges (GIT ranges name commits, not versions, and are
skipped) and the explicit `versions` list.
"""

from __future__ import annotations

import threading
import zipfile
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from station.progress import check_cancel
from station.scan.errors import NotAnExport
from station.scan.jsondoc import JsonError, load_strict
from station.scan.severity import severity_of

MAX_RECORD_BYTES = 8 * 1024 * 1024
MAX_RECORDS = 2_000_000
MAX_EXPORT_BYTES = 32 * 1024**3
MAX_TEXT = 512
MAX_VERSION = 256
MAX_LIST = 100_000
RANGE_TYPES = frozenset({"ECOSYSTEM", "SEMVER", "GIT"})
EVENT_KINDS = ("introduced", "fixed", "last_affected", "limit")
_PROBE_RECORDS = 3


@dataclass(frozen=True)
class Event:
    """One OSV range event: `introduced`, `fixed`, `last_affected` or `limit`, and its version."""

    kind: str
    version: str


@dataclass(frozen=True)
class VersionRange:
    type: str  # ECOSYSTEM or SEMVER (GIT ranges are not kept)
    events: tuple[Event, ...]


@dataclass(frozen=True)
class Affected:
    """One `affected` entry: a package of one ecosystem (with release, e.g. `Debian:12`)."""

    ecosystem: str
    name: str
    ranges: tuple[VersionRange, ...]
    versions: tuple[str, ...]
    severity: str

    @property
    def base_ecosystem(self) -> str:
        return base_ecosystem(self.ecosystem)


@dataclass(frozen=True)
class OsvRecord:
    id: str
    modified: datetime
    withdrawn: datetime | None
    aliases: tuple[str, ...]
    summary: str
    severity: str
    affected: tuple[Affected, ...]


def base_ecosystem(ecosystem: str) -> str:
    """`Debian:12` -> `Debian`, `Alpine:v3.19` -> `Alpine`, `PyPI` -> `PyPI`."""
    return ecosystem.split(":", 1)[0]


def parse_time(value: Any, where: str) -> datetime:
    """An RFC 3339 time with a zone (OSV requires UTC, `Z`)."""
    if not isinstance(value, str) or len(value) > 64:
        raise NotAnExport(f"{where} is not an RFC 3339 time")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise NotAnExport(f"{where} = {value[:40]!r} is not an RFC 3339 time") from None
    if parsed.tzinfo is None or "T" not in value.upper():
        raise NotAnExport(f"{where} = {value[:40]!r} has no time zone")
    return parsed


def _text(value: Any, where: str, *, limit: int = MAX_TEXT, required: bool = True) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise NotAnExport(f"{where} must be a non-empty string")
    if len(value) > limit:
        raise NotAnExport(f"{where} is longer than {limit} characters")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise NotAnExport(f"{where} must be a list")
    if len(value) > MAX_LIST:
        raise NotAnExport(f"{where} has more than {MAX_LIST} entries")
    return value


def _event(raw: Any, where: str) -> Event:
    if not isinstance(raw, dict) or len(raw) != 1:
        raise NotAnExport(f"{where} must be an object with exactly one of {', '.join(EVENT_KINDS)}")
    ((kind, version),) = raw.items()
    if kind not in EVENT_KINDS:
        raise NotAnExport(f"{where}: {kind!r} is not an OSV event")
    return Event(kind, _text(version, f"{where}.{kind}", limit=MAX_VERSION))


def _range(raw: Any, where: str) -> VersionRange | None:
    if not isinstance(raw, dict):
        raise NotAnExport(f"{where} must be an object")
    kind = raw.get("type")
    if kind not in RANGE_TYPES:
        raise NotAnExport(f"{where}: type {kind!r} is not ECOSYSTEM, SEMVER or GIT")
    events = tuple(
        _event(event, f"{where}.events[{n}]")
        for n, event in enumerate(_list(raw.get("events"), f"{where}.events"))
    )
    if not events:
        raise NotAnExport(f"{where} has no events")
    return None if kind == "GIT" else VersionRange(kind, events)


def _affected(raw: Any, record: Mapping[str, Any], where: str) -> Affected:
    if not isinstance(raw, dict):
        raise NotAnExport(f"{where} must be an object")
    package = raw.get("package")
    if not isinstance(package, dict):
        raise NotAnExport(f"{where}.package must be an object")
    ranges = [
        _range(entry, f"{where}.ranges[{n}]")
        for n, entry in enumerate(_list(raw.get("ranges"), f"{where}.ranges"))
    ]
    versions = tuple(
        _text(v, f"{where}.versions[{n}]", limit=MAX_VERSION)
        for n, v in enumerate(_list(raw.get("versions"), f"{where}.versions"))
    )
    return Affected(
        ecosystem=_text(package.get("ecosystem"), f"{where}.package.ecosystem"),
        name=_text(package.get("name"), f"{where}.package.name"),
        ranges=tuple(r for r in ranges if r is not None),
        versions=versions,
        severity=severity_of(record, raw),
    )


def parse_record(doc: Any, where: str) -> OsvRecord:
    """Check one record's fields and keep what matching needs; NotAnExport otherwise."""
    if not isinstance(doc, dict):
        raise NotAnExport(f"{where} is not a JSON object")
    record_id = _text(doc.get("id"), f"{where}: id", limit=200)
    where = f"{where} ({record_id})"
    withdrawn = doc.get("withdrawn")
    aliases = [
        _text(a, f"{where}: {field}[{n}]")
        for field in ("aliases", "upstream")
        for n, a in enumerate(_list(doc.get(field), f"{where}: {field}"))
    ]
    summary = doc.get("summary")
    return OsvRecord(
        id=record_id,
        modified=parse_time(doc.get("modified"), f"{where}: modified"),
        withdrawn=None if withdrawn is None else parse_time(withdrawn, f"{where}: withdrawn"),
        aliases=tuple(dict.fromkeys(a for a in aliases if a != record_id)),
        summary=summary[:MAX_TEXT] if isinstance(summary, str) else "",
        severity=severity_of(doc),
        affected=tuple(
            _affected(entry, doc, f"{where}: affected[{n}]")
            for n, entry in enumerate(_list(doc.get("affected"), f"{where}: affected"))
        ),
    )


def _members(archive: zipfile.ZipFile, label: str) -> list[zipfile.ZipInfo]:
    members: list[zipfile.ZipInfo] = []
    seen: set[str] = set()
    total = 0
    for info in archive.infolist():
        if info.is_dir():
            continue
        name = info.filename
        if not name.endswith(".json"):
            raise NotAnExport(f"{label}: {name[:80]!r} is not a JSON record (an OSV export "
                              "holds only <ID>.json files)")
        if name in seen:
            raise NotAnExport(f"{label}: {name[:80]!r} is in the zip twice")
        if info.flag_bits & 0x1:
            raise NotAnExport(f"{label}: {name[:80]!r} is encrypted")
        if info.file_size > MAX_RECORD_BYTES:
            raise NotAnExport(f"{label}: {name[:80]!r} is {info.file_size} bytes, over the "
                              f"limit of {MAX_RECORD_BYTES} for one record")
        total += info.file_size
        seen.add(name)
        members.append(info)
    if len(members) > MAX_RECORDS:
        raise NotAnExport(f"{label} holds more than {MAX_RECORDS} records")
    if total > MAX_EXPORT_BYTES:
        raise NotAnExport(f"{label} unpacks to {total} bytes, over {MAX_EXPORT_BYTES}")
    if not members:
        raise NotAnExport(f"{label} holds no OSV record")
    return members


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, label: str) -> OsvRecord:
    where = f"{label}: {info.filename[:80]}"
    with archive.open(info) as member:
        data = member.read(MAX_RECORD_BYTES + 1)
    if len(data) > MAX_RECORD_BYTES or len(data) != info.file_size:
        raise NotAnExport(f"{where} is not the size the zip declares")
    try:
        doc = load_strict(data)
    except JsonError as exc:
        raise NotAnExport(f"{where} is not strict JSON: {exc}") from None
    return parse_record(doc, where)


_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, OSError)


def read_export(
    path: Path, *, label: str | None = None, cancel: threading.Event | None = None
) -> Iterator[OsvRecord]:
    """Every record of the export, in zip order; NotAnExport at the first problem."""
    label = label or str(path)
    try:
        with zipfile.ZipFile(path) as archive:
            for info in _members(archive, label):
                check_cancel(cancel, "database install stopped")
                yield _read_member(archive, info, label)
    except _ZIP_ERRORS as exc:
        raise NotAnExport(f"{label} cannot be read as a zip: {exc}") from None


def count_records(path: Path) -> int:
    """How many records the export declares (for progress), without reading them."""
    try:
        with zipfile.ZipFile(path) as archive:
            return sum(1 for info in archive.infolist() if not info.is_dir())
    except _ZIP_ERRORS as exc:
        raise NotAnExport(f"{path} cannot be read as a zip: {exc}") from None


def is_osv_export(path: Path) -> bool:
    """Whether `path` is an OSV export zip, judged by content: JSON members that are records."""
    try:
        if not path.is_file() or not zipfile.is_zipfile(path):
            return False
        with zipfile.ZipFile(path) as archive:
            members = _members(archive, str(path))
            for info in members[:_PROBE_RECORDS]:
                _read_member(archive, info, str(path))
    except (NotAnExport, *_ZIP_ERRORS):
        return False
    return True
