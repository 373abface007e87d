"""Offline vulnerability scanning of verified images against a signed OSV database (issue 14).

Public API, for the transfer and the CLI:

- `station.scan.vulndb.VulnDB(home)`: `status()`, `is_osv_export(path)`,
  `install(path, *, bundle_digest)` (never goes back to an older export).
- `station.scan.scan_layout(layout, references, db, *, on_progress=None, cancel=None)
  -> ScanReport`; `ScanReport.to_json()` is `station scan --json`.
- `station.scan.policy.ScanPolicy.from_config(config)` and
  `station.scan.policy.scan_findings(report, *, max_severity, waivers, max_db_age_days, now)
  -> list[Finding]` for the verdict.
- `station.scan.rescan_store(home, db, audit) -> list[NewlyVulnerable]` for `station scan
  store`: what became vulnerable since the last store scan, audited (`store-scan`).
- `station.scan.sbom.cyclonedx_json(report)`: a CycloneDX JSON SBOM of what was catalogued.

Modules: osv (export reader), vulndb (SQLite index), layers (layer walk, whiteouts),
catalogue + dpkg/apk/python_dist/npm/osrelease (package databases), matching, report,
severity, sbom, policy, rescan, sources (what `station scan SOURCE` names). The heavy
modules load only when these names are used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from station.scan.rescan import rescan_store
    from station.scan.scanner import scan_layout

__all__ = ["rescan_store", "scan_layout"]


def __getattr__(name: str) -> Any:
    if name == "scan_layout":
        from station.scan.scanner import scan_layout

        return scan_layout
    if name == "rescan_store":
        from station.scan.rescan import rescan_store

        return rescan_store
    raise AttributeError(name)
