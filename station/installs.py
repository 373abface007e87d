"""Databases that cross like any bundle: installed by the import that brought them.

An OSV export (recognised by content) goes into the vulnerability database (`<home>/vulndb`,
never replaced by an older export); ClamAV database files go into `<home>/clamav-db` (never
back in version) and clamd is told to reload. Both only after the normal transfer: verified,
approved by two people, delivered. Every install and every refusal is audited and is part of
the transfer's record; a refused database never undoes what landed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from station.audit import AuditLog
from station.bundle.model import Bundle
from station.config import StationConfig
from station.errors import StationError
from station.importing.base import Receipt


class DatabaseInstaller:
    """Installs the databases among the files an import delivered."""

    def __init__(self, config: StationConfig, audit: AuditLog) -> None:
        self.config = config
        self.audit = audit

    def __call__(self, receipt: Receipt, bundle: Bundle) -> tuple[list[dict[str, Any]], list[str]]:
        """(what was installed, warnings) for one finished import."""
        installed: list[dict[str, Any]] = []
        warnings: list[str] = []
        delivered = [Path(f.where) for f in receipt.files]
        self._vulnerabilities(delivered, bundle, installed, warnings)
        self._malware(delivered, bundle, installed, warnings)
        return installed, warnings

    def _vulnerabilities(self, delivered: list[Path], bundle: Bundle,
                         installed: list[dict[str, Any]], warnings: list[str]) -> None:
        from station.scan.vulndb import VulnDB

        exports = [path for path in delivered if VulnDB.is_osv_export(path)]
        if not exports:
            return
        database = VulnDB(self.config.home)
        for path in exports:
            try:
                result = database.install(path, bundle_digest=bundle.digest)
            except StationError as exc:
                self._refused("vulndb", path, bundle, exc, warnings)
                continue
            record = {"kind": "vulndb", "file": path.name, **result.to_json()}
            self.audit.append("database-installed", digest=bundle.digest, **record)
            installed.append(record)

    def _malware(self, delivered: list[Path], bundle: Bundle,
                 installed: list[dict[str, Any]], warnings: list[str]) -> None:
        from station.malware.formats import looks_like_database
        from station.malware.readiness import database_set
        from station.malware.settings import MalwareSettings

        files = [path for path in delivered if looks_like_database(path.name)]
        if not files:
            return
        settings = MalwareSettings.from_config(self.config)
        sequence = bundle.info.sequence if bundle.info is not None else None
        try:
            result = database_set(settings).install(files, bundle_digest=bundle.digest,
                                                     sequence=sequence)
        except StationError as exc:
            self._refused("clamav-db", files[0], bundle, exc, warnings)
            return
        record = {"kind": "clamav-db", "files": [p.name for p in files], **result.to_json()}
        self.audit.append("database-installed", digest=bundle.digest, **record)
        installed.append(record)

    def _refused(self, kind: str, path: Path, bundle: Bundle, exc: StationError,
                 warnings: list[str]) -> None:
        self.audit.append("database-refused", digest=bundle.digest, kind=kind, file=path.name,
                          reason=exc.message)
        warnings.append(f"{path.name} was delivered but not installed: {exc.message}")
