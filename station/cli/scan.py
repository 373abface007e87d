"""`station scan SOURCE [--json] [--sbom FILE]`: the station's own vulnerability scan.

SOURCE is `store` (every image imported into the embedded store: what is newly vulnerable
since the last store scan is printed and audited), `oci:DIR[:REF]` (an OCI layout folder),
or a media path (its verified staged copy; not available until issues 9/12 land). Exit 0 when
the scan ran, whatever it found; 2 when no vulnerability database is installed, or on a usage
or read error.
"""

from __future__ import annotations

import argparse
import getpass
from pathlib import Path
from typing import Any

from station.audit import AuditLog
from station.cli.common import load_config, print_json
from station.cli.progressbar import TerminalProgress
from station.errors import StationError
from station.scan.errors import NoDatabase
from station.scan.report import ImageScan, ScanReport
from station.scan.rescan import NewlyVulnerable, record_store_scan, scan_store
from station.scan.scanner import scan_layout
from station.scan.sources import parse_source, stage_for_scan
from station.scan.vulndb import VulnDB

EXIT_OK = 0
SHOWN = 10


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "scan",
        help="scan images for known vulnerabilities against the station's OSV database",
        description="Catalogue the packages of images (dpkg, apk, Python, npm) and match them "
        "against the installed OSV database, offline. SOURCE: 'store' (the embedded store; "
        "reports what is newly vulnerable since the last store scan, audited), "
        "'oci:DIR[:REF]' (an OCI layout), or a media path (its verified copy).",
    )
    parser.add_argument("source", metavar="SOURCE", help="store | oci:DIR[:REF] | media path")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.add_argument("--sbom", metavar="FILE",
                        help="also write a CycloneDX JSON SBOM of what was catalogued")
    parser.set_defaults(func=run)


def _system_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _write_sbom(path: Path, report: ScanReport) -> None:
    from station.scan.sbom import cyclonedx_json

    try:
        path.write_text(cyclonedx_json(report) + "\n", encoding="utf-8")
    except OSError as exc:
        raise StationError(f"cannot write the SBOM {path}: {exc.strerror or exc}") from exc


def _print_image(image: ImageScan) -> None:
    distro = image.distro_ecosystem or (image.distro.describe() if image.distro else "no distro")
    print(f"{image.title}  {image.config_digest[:19]}…  {distro}  "
          f"{len(image.packages)} packages")
    counts = ", ".join(f"{n} {s.lower()}" for s, n in image.counts.items() if n)
    print(f"  {len(image.vulnerabilities)} vulnerabilities" + (f": {counts}" if counts else ""))
    for match in image.worst(SHOWN):
        fixed = f" (fixed in {match.fixed})" if match.fixed else " (no fix yet)"
        print(f"  {match.severity:<8} {match.id}  {match.package} {match.installed}{fixed}")
    if len(image.vulnerabilities) > SHOWN:
        print(f"  ... and {len(image.vulnerabilities) - SHOWN} more (--json lists all)")
    for problem in image.problems[:SHOWN]:
        print(f"  not judged: {problem.path}: {problem.message}")
    if len(image.problems) > SHOWN:
        print(f"  ... and {len(image.problems) - SHOWN} more problems")


def _print_text(report: ScanReport, newly: list[NewlyVulnerable] | None) -> None:
    for image in report.images:
        _print_image(image)
    if not report.images:
        print("no images to scan")
    for eco in report.db.ecosystems:
        print(f"database: {eco.name}: {eco.records} records, newest "
              f"{eco.newest.date().isoformat()} ({eco.age_days(report.db.now)} days old)")
    if newly is not None:
        print(f"newly vulnerable since the last store scan: {len(newly)}")
        for item in newly:
            v = item.vulnerability
            print(f"  {item.reference or item.config_digest[:19]}: {v.severity} {v.id} "
                  f"{v.package} {v.installed}")


def run(args: argparse.Namespace) -> int:
    config = load_config(args)
    db = VulnDB(config.home)
    if not db.status().installed:
        raise NoDatabase(
            "no vulnerability database is installed: a scan would prove nothing",
            hint="import a bundle carrying an OSV export (e.g. Debian/all.zip), or as an "
            "admin: station vulndb install ZIP",
        )
    source = parse_source(args.source, config)
    bar = TerminalProgress("scan")
    try:
        if source.is_store:
            report = scan_store(config.home, db, on_progress=bar.callback())
        elif source.is_media:
            with stage_for_scan(source.layout, config) as layout:
                report = scan_layout(layout, None, db, on_progress=bar.callback(),
                                     limits=config.limits)
        else:
            report = scan_layout(source.layout, source.references, db,
                                 on_progress=bar.callback(), limits=config.limits)
    finally:
        bar.finish()
    newly = None
    if source.is_store:
        newly = record_store_scan(config.home, report, AuditLog.from_config(config),
                                  actor=_system_user())
    if args.sbom:
        _write_sbom(Path(args.sbom), report)
    if args.json:
        doc = report.to_json()
        if newly is not None:
            doc["newly_vulnerable"] = [item.to_json() for item in newly]
        print_json(doc)
    else:
        _print_text(report, newly)
    return EXIT_OK
