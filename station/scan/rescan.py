"""`station scan store`: scan every image already imported, say what is newly vulnerable.

After a newer database is installed, images imported last month may turn out vulnerable
today. `rescan_store` scans the embedded store, compares the findings with those of the last
store scan (`<home>/vulndb/store-scan.json`, per image config digest), writes one
`store-scan` audit record (counts, the database it used, the new findings) and keeps the new
findings as the next comparison. The first store scan finds everything new.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from station.atomic import replace_file
from station.progress import ProgressCallback
from station.scan.errors import VulnDBError
from station.scan.matching import VulnerabilityMatch
from station.scan.report import ScanReport
from station.scan.scanner import scan_layout
from station.scan.vulndb import DB_DIR, VulnDB

if TYPE_CHECKING:
    from station.audit import AuditLog

STATE = "store-scan.json"
AUDITED_FINDINGS = 200


@dataclass(frozen=True)
class NewlyVulnerable:
    """A finding in an imported image that the last store scan did not have."""

    reference: str | None
    config_digest: str
    vulnerability: VulnerabilityMatch

    def to_json(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "config_digest": self.config_digest,
            **self.vulnerability.to_json(),
        }


def _key(match: VulnerabilityMatch) -> str:
    return f"{match.id}|{match.package}|{match.installed}|{match.location}"


def scan_store(
    home: Path,
    db: VulnDB,
    *,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    now: datetime | None = None,
) -> ScanReport:
    """Every image of the embedded store (`<home>/store`); none when the store is empty."""
    store = Path(home) / "store"
    when = now or datetime.now(UTC)
    try:
        index = json.loads((store / "index.json").read_bytes())
        empty = not (isinstance(index, dict) and index.get("manifests"))
    except FileNotFoundError:
        empty = True
    except (OSError, ValueError):
        empty = False  # let the layout reader say what is wrong with it
    if empty:
        return ScanReport(db=db.status(when), images=(), scanned_at=when)
    return scan_layout(store, None, db, on_progress=on_progress, cancel=cancel, now=when)


def _load_state(path: Path) -> dict[str, list[str]]:
    try:
        doc = json.loads(path.read_bytes())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise VulnDBError(f"cannot read the last store scan {path}: {exc}",
                          hint="remove it; the next store scan then reports every finding") from exc
    images = doc.get("images") if isinstance(doc, dict) else None
    if not isinstance(images, dict):
        raise VulnDBError(f"{path} is damaged", hint="remove it; the next scan starts afresh")
    return {str(k): [str(x) for x in v] for k, v in images.items() if isinstance(v, list)}


def record_store_scan(
    home: Path, report: ScanReport, audit: AuditLog, *, actor: str | None = None
) -> list[NewlyVulnerable]:
    """Compare `report` (a store scan) with the last one, audit it and remember it."""
    path = Path(home) / DB_DIR / STATE
    before = _load_state(path)
    newly: list[NewlyVulnerable] = []
    state: dict[str, list[str]] = {}
    for image in report.images:
        seen = set(before.get(image.config_digest, ()))
        keys = state.setdefault(image.config_digest, [])
        for match in image.vulnerabilities:
            keys.append(_key(match))
            if _key(match) not in seen:
                newly.append(NewlyVulnerable(image.reference, image.config_digest, match))
    audit.append(
        "store-scan",
        actor=actor,
        images=len(report.images),
        vulnerabilities=sum(len(i.vulnerabilities) for i in report.images),
        db={e.name: e.to_json(report.db.now)["newest"] for e in report.db.ecosystems},
        newly_vulnerable=[n.to_json() for n in newly[:AUDITED_FINDINGS]],
        newly_count=len(newly),
    )
    data = json.dumps({"time": report.scanned_at.isoformat(), "images": state}, sort_keys=True)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        replace_file(path, data.encode("utf-8"), mode=0o644)
    except OSError as exc:
        raise VulnDBError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return newly


def rescan_store(
    home: Path,
    db: VulnDB,
    audit: AuditLog,
    *,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    now: datetime | None = None,
) -> list[NewlyVulnerable]:
    """Scan the store and return what is newly vulnerable since the last store scan."""
    report = scan_store(home, db, on_progress=on_progress, cancel=cancel, now=now)
    return record_store_scan(home, report, audit)
