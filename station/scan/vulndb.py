"""The station's vulnerability database: OSV exports indexed in SQLite under `<home>/vulndb/`.

Public API (the transfer calls it when a bundle carries an OSV export):

    db = VulnDB(home)
    db.is_osv_export(path) -> bool              # recognised by content, not name
    db.install(path, bundle_digest=...) -> InstallResult   # refuses an older export
    db.status() -> DbStatus                     # per ecosystem: records, newest, age, digest

One SQLite file per ecosystem (`Debian.sqlite`, `PyPI.sqlite`...; the base name before `:`,
so `Debian:12` records live in `Debian.sqlite`). An install builds every file of the export
in a temporary name beside the old one and renames it into place only when the whole export
was read and none of its ecosystems is older than what is installed (the newest `modified`
of its records): a refused or interrupted install changes nothing, and a scan that has the
old file open keeps reading the old file. Withdrawn records are kept (they count) but never
match.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from station.atomic import fsync_dir
from station.progress import Progress, ProgressCallback
from station.scan import osv
from station.scan.errors import NotAnExport, OlderExport, VulnDBError
from station.scan.osv import Affected, Event, OsvRecord, VersionRange

DB_DIR = "vulndb"
SCHEMA = "1"
_PARTIAL = ".partial-"
_SUFFIX = ".sqlite"
_BATCH = 5000
_LOOKUP_CHUNK = 500

# Only "?" placeholders are put into {marks}; names are always bound parameters.
_LOOKUP = (
    "SELECT a.name_key, a.record_id, a.ecosystem, a.name, a.ranges, a.versions, a.severity,"
    " r.aliases, r.summary FROM affected a JOIN records r ON r.id = a.record_id"
    " WHERE r.withdrawn IS NULL AND a.name_key IN ({marks})"
)
_CREATE = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE records (id TEXT PRIMARY KEY, modified TEXT NOT NULL, withdrawn TEXT,
                      aliases TEXT NOT NULL, summary TEXT NOT NULL, severity TEXT NOT NULL);
CREATE TABLE affected (record_id TEXT NOT NULL, ecosystem TEXT NOT NULL, name TEXT NOT NULL,
                       name_key TEXT NOT NULL, ranges TEXT NOT NULL, versions TEXT NOT NULL,
                       severity TEXT NOT NULL);
"""


def name_key(base_ecosystem: str, name: str) -> str:
    """The name packages are looked up by: PyPI names are normalised (PEP 503), others exact."""
    return str(canonicalize_name(name)) if base_ecosystem == "PyPI" else name


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class EcosystemStatus:
    """What is installed for one ecosystem, and from which bundle."""

    name: str
    records: int
    newest: datetime
    bundle_digest: str
    installed_at: datetime

    def age_days(self, now: datetime) -> int:
        """Whole days between the newest record and `now` (0 when newer than now)."""
        return max((now - self.newest).days, 0)

    def to_json(self, now: datetime) -> dict[str, Any]:
        return {
            "name": self.name,
            "records": self.records,
            "newest": _iso(self.newest),
            "age_days": self.age_days(now),
            "bundle_digest": self.bundle_digest or None,
            "installed_at": _iso(self.installed_at),
        }


@dataclass(frozen=True)
class DbStatus:
    """Every installed ecosystem, judged at `now`."""

    ecosystems: tuple[EcosystemStatus, ...]
    now: datetime

    @property
    def installed(self) -> bool:
        return bool(self.ecosystems)

    def get(self, name: str) -> EcosystemStatus | None:
        return next((e for e in self.ecosystems if e.name == name), None)

    @property
    def newest(self) -> datetime | None:
        """The least recent of the ecosystems' newest records: every part is at least this new."""
        return min((e.newest for e in self.ecosystems), default=None)

    @property
    def age_days(self) -> int | None:
        return max((e.age_days(self.now) for e in self.ecosystems), default=None)

    def to_json(self) -> dict[str, Any]:
        newest = self.newest
        return {
            "ecosystems": [e.to_json(self.now) for e in self.ecosystems],
            "newest": None if newest is None else _iso(newest),
            "age_days": self.age_days,
        }


@dataclass(frozen=True)
class InstallResult:
    """What an install put in place, and what it replaced (for the receipt and the audit)."""

    installed: tuple[EcosystemStatus, ...]
    replaced: tuple[EcosystemStatus, ...]
    records: int

    def describe(self) -> str:
        parts = [
            f"{e.name} ({e.records} records, newest {_iso(e.newest)[:10]})" for e in self.installed
        ]
        return "vulnerability database installed: " + ", ".join(parts)

    def to_json(self) -> dict[str, Any]:
        now = datetime.now(UTC)
        return {
            "records": self.records,
            "installed": [e.to_json(now) for e in self.installed],
            "replaced": [e.to_json(now) for e in self.replaced],
        }


@dataclass(frozen=True)
class AffectedEntry:
    """One `affected` entry of a record that is not withdrawn, as matching needs it."""

    record_id: str
    aliases: tuple[str, ...]
    summary: str
    entry: Affected


def _ranges_json(ranges: Iterable[VersionRange]) -> str:
    return json.dumps([[r.type, [[e.kind, e.version] for e in r.events]] for r in ranges])


def _ranges_from(text: str) -> tuple[VersionRange, ...]:
    return tuple(
        VersionRange(kind, tuple(Event(k, v) for k, v in events))
        for kind, events in json.loads(text)
    )


class _Builder:
    """One ecosystem's new database file, filled while the export is read."""

    def __init__(self, folder: Path, ecosystem: str) -> None:
        self.ecosystem = ecosystem
        self.final = folder / (urllib.parse.quote(ecosystem, safe="") + _SUFFIX)
        self.path = folder / f"{_PARTIAL}{os.getpid()}-{self.final.name}"
        self.path.unlink(missing_ok=True)
        self.db = sqlite3.connect(self.path, isolation_level=None)
        self.db.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;" + _CREATE)
        self.db.execute("BEGIN")
        self.records: list[tuple[Any, ...]] = []
        self.affected: list[tuple[str, ...]] = []
        self.count = 0
        self.newest: datetime | None = None

    def add(self, record: OsvRecord, entries: list[Affected]) -> None:
        self.count += 1
        if self.newest is None or record.modified > self.newest:
            self.newest = record.modified
        self.records.append(
            (
                record.id,
                _iso(record.modified),
                None if record.withdrawn is None else _iso(record.withdrawn),
                json.dumps(record.aliases),
                record.summary,
                record.severity,
            )
        )
        for entry in entries:
            self.affected.append(
                (
                    record.id,
                    entry.ecosystem,
                    entry.name,
                    name_key(self.ecosystem, entry.name),
                    _ranges_json(entry.ranges),
                    json.dumps(entry.versions),
                    entry.severity,
                )
            )
        if len(self.records) >= _BATCH:
            self.flush()

    def flush(self) -> None:
        try:
            self.db.executemany("INSERT INTO records VALUES (?, ?, ?, ?, ?, ?)", self.records)
        except sqlite3.IntegrityError:
            raise NotAnExport(
                f"the export lists a {self.ecosystem} record id twice; it is not an OSV export"
            ) from None
        self.db.executemany("INSERT INTO affected VALUES (?, ?, ?, ?, ?, ?, ?)", self.affected)
        self.records.clear()
        self.affected.clear()

    def finish(self, bundle_digest: str, installed_at: datetime) -> EcosystemStatus:
        self.flush()
        if self.newest is None:
            raise NotAnExport(f"no {self.ecosystem} record was read")
        status = EcosystemStatus(
            self.ecosystem, self.count, self.newest, bundle_digest, installed_at
        )
        meta = {
            "schema": SCHEMA,
            "ecosystem": self.ecosystem,
            "records": str(self.count),
            "newest": _iso(self.newest),
            "bundle_digest": bundle_digest,
            "installed_at": _iso(installed_at),
        }
        self.db.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
        self.db.execute("CREATE INDEX affected_name ON affected (name_key)")
        self.db.execute("COMMIT")
        self.db.close()
        with open(self.path, "rb") as handle:
            os.fsync(handle.fileno())
        return status

    def discard(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.db.close()
        self.path.unlink(missing_ok=True)


class VulnDB:
    """The OSV database of one station home (`<home>/vulndb/`)."""

    def __init__(self, home: Path) -> None:
        self.root = Path(home) / DB_DIR

    @staticmethod
    def is_osv_export(path: Path) -> bool:
        """Whether `path` is an OSV export zip (by content); never raises."""
        return osv.is_osv_export(path)

    # -- reading --------------------------------------------------------------------------

    def _files(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        return sorted(
            p for p in self.root.iterdir() if p.suffix == _SUFFIX and not p.name.startswith(".")
        )

    def _connect(self, path: Path) -> sqlite3.Connection:
        try:
            return sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)
        except sqlite3.Error as exc:
            raise self._damaged(path, exc) from exc

    @staticmethod
    def _damaged(path: Path, exc: Exception) -> VulnDBError:
        return VulnDBError(
            f"cannot read the vulnerability database {path}: {exc}",
            hint="install the OSV export again (import its bundle, or station vulndb install)",
        )

    def _read_status(self, path: Path) -> EcosystemStatus:
        db = self._connect(path)
        try:
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
            return EcosystemStatus(
                name=meta["ecosystem"],
                records=int(meta["records"]),
                newest=osv.parse_time(meta["newest"], "newest"),
                bundle_digest=meta["bundle_digest"],
                installed_at=osv.parse_time(meta["installed_at"], "installed_at"),
            )
        except (sqlite3.Error, KeyError, ValueError, NotAnExport) as exc:
            raise self._damaged(path, exc) from exc
        finally:
            db.close()

    def status(self, now: datetime | None = None) -> DbStatus:
        """Every installed ecosystem; an empty status when nothing is installed."""
        found = tuple(self._read_status(path) for path in self._files())
        return DbStatus(found, now or datetime.now(UTC))

    def lookup(self, ecosystem: str, names: Iterable[str]) -> dict[str, list[AffectedEntry]]:
        """The live (not withdrawn) entries of `ecosystem` (base name) naming any of `names`.

        Keys of the answer are `name_key(ecosystem, name)`; nothing installed means {}.
        """
        path = self.root / (urllib.parse.quote(ecosystem, safe="") + _SUFFIX)
        keys = sorted({name_key(ecosystem, name) for name in names})
        if not keys or not path.is_file():
            return {}
        found: dict[str, list[AffectedEntry]] = {}
        db = self._connect(path)
        try:
            for start in range(0, len(keys), _LOOKUP_CHUNK):
                chunk = keys[start : start + _LOOKUP_CHUNK]
                marks = ",".join("?" * len(chunk))
                query = _LOOKUP.format(marks=marks)
                rows = db.execute(query, chunk)
                for key, rid, eco, name, ranges, versions, severity, aliases, summary in rows:
                    entry = Affected(eco, name, _ranges_from(ranges), tuple(json.loads(versions)),
                                     severity)
                    found.setdefault(key, []).append(
                        AffectedEntry(rid, tuple(json.loads(aliases)), summary, entry)
                    )
        except (sqlite3.Error, ValueError) as exc:
            raise self._damaged(path, exc) from exc
        finally:
            db.close()
        return found

    # -- installing -----------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            handle = open(self.root / ".lock", "a+b")  # noqa: SIM115 - held for the block
        except OSError as exc:
            raise VulnDBError(f"cannot use {self.root}: {exc.strerror or exc}") from exc
        with handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                raise VulnDBError(
                    "another vulnerability database install is running",
                    hint="wait for it to finish, then try again",
                ) from exc
            for leftover in self.root.glob(_PARTIAL + "*"):
                leftover.unlink(missing_ok=True)
            yield

    def install(
        self,
        path: Path,
        *,
        bundle_digest: str,
        on_progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
        now: datetime | None = None,
    ) -> InstallResult:
        """Index the OSV export at `path` and put it in place of the installed ecosystems.

        Refuses (`OlderExport`) when, for any ecosystem of the export, the newest record is
        older than the installed one's; refuses (`NotAnExport`) any record that cannot be read.
        `bundle_digest` is the digest of the verified bundle the export came in.
        """
        installed_at = now or datetime.now(UTC)
        with self._locked():
            before = {e.name: e for e in self.status(installed_at).ecosystems}
            total = osv.count_records(path)
            builders: dict[str, _Builder] = {}
            try:
                started = time.monotonic()
                count = 0
                for record in osv.read_export(path, cancel=cancel):
                    count += 1
                    by_ecosystem: dict[str, list[Affected]] = {}
                    for entry in record.affected:
                        by_ecosystem.setdefault(entry.base_ecosystem, []).append(entry)
                    for ecosystem, entries in by_ecosystem.items():
                        builder = builders.get(ecosystem)
                        if builder is None:
                            builder = builders[ecosystem] = _Builder(self.root, ecosystem)
                        builder.add(record, entries)
                    if on_progress is not None and count % 1000 == 0:
                        on_progress(Progress(count, total, time.monotonic() - started))
                if not builders:
                    raise NotAnExport(f"{path}: no record names an affected package")
                installed = [b.finish(bundle_digest, installed_at) for b in builders.values()]
                for status in installed:
                    old = before.get(status.name)
                    if old is not None and status.newest < old.newest:
                        raise OlderExport(
                            f"this {status.name} export is older than the installed one: its "
                            f"newest record is from {_iso(status.newest)}, the installed "
                            f"database's from {_iso(old.newest)}",
                            hint="bring a newer export; an older one never replaces a newer one",
                        )
                for builder in builders.values():
                    os.replace(builder.path, builder.final)
                fsync_dir(self.root)
            except sqlite3.Error as exc:
                raise VulnDBError(f"cannot write the vulnerability database: {exc}") from exc
            finally:
                for builder in builders.values():
                    builder.discard()
        return InstallResult(
            installed=tuple(installed),
            replaced=tuple(before[s.name] for s in installed if s.name in before),
            records=count,
        )
