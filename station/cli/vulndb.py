"""`station vulndb status [--json]` and `station vulndb install ZIP` (admins).

The normal way a database arrives is a bundle carrying an OSV export, imported through the
two-person transfer. `install` is for an admin at the station; it is audited
(`admin-action`, action `vulndb-installed`) and never replaces a newer export with an older one.
"""

from __future__ import annotations

import argparse
import getpass
from pathlib import Path
from typing import Any

from station.audit import AuditLog
from station.cli.common import load_config, print_json
from station.cli.progressbar import TerminalProgress
from station.scan.errors import NotAnExport
from station.scan.vulndb import VulnDB

EXIT_OK = 0


def register(subparsers: Any) -> None:
    vulndb = subparsers.add_parser(
        "vulndb",
        help="the station's OSV vulnerability database: status, install",
        description="Show or install the station's OSV vulnerability database.",
    )
    actions = vulndb.add_subparsers(dest="vulndb_command", metavar="ACTION")
    actions.required = True
    status = actions.add_parser(
        "status",
        help="per ecosystem: records, newest record, age in days, bundle digest",
        description="Per ecosystem: record count, newest 'modified', age in days and the "
        "digest of the bundle it came from.",
    )
    status.add_argument("--json", action="store_true", help="print JSON instead of a table")
    status.set_defaults(func=run_status)
    install = actions.add_parser(
        "install",
        help="install an OSV export zip (admins; the normal way is a bundle import)",
        description="Index an OSV export zip (osv.dev's <Ecosystem>/all.zip) into the station "
        "home. An export older than the installed one is refused. Audited.",
    )
    install.add_argument("zip", metavar="ZIP", help="the OSV export")
    install.set_defaults(func=run_install)


def run_status(args: argparse.Namespace) -> int:
    config = load_config(args)
    status = VulnDB(config.home).status()
    if args.json:
        print_json(status.to_json())
        return EXIT_OK
    if not status.installed:
        print("no vulnerability database is installed")
        return EXIT_OK
    print(f"{'ecosystem':<16} {'records':>9}  {'newest':<20} {'age':>6}  bundle")
    for eco in status.ecosystems:
        print(f"{eco.name:<16} {eco.records:>9}  {eco.newest.isoformat()[:19]:<20} "
              f"{eco.age_days(status.now):>4} d  {eco.bundle_digest or '(installed by an admin)'}")
    return EXIT_OK


def run_install(args: argparse.Namespace) -> int:
    config = load_config(args)
    path = Path(args.zip)
    db = VulnDB(config.home)
    if not db.is_osv_export(path):
        raise NotAnExport(f"{path} is not an OSV export zip (one JSON record per file)",
                          hint="use osv.dev's export for one ecosystem, e.g. Debian/all.zip")
    bar = TerminalProgress("install")
    try:
        result = db.install(path, bundle_digest="", on_progress=bar.callback())
    finally:
        bar.finish()
    AuditLog.from_config(config).append(
        "admin-action", actor=getpass.getuser(), action="vulndb-installed", file=str(path),
        installed=[e.to_json(e.installed_at) for e in result.installed],
    )
    print(result.describe())
    return EXIT_OK
