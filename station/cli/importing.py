"""`station import PATH [--trust DIR] [--to TARGET] [--approvals FILE] [--json]`.

The same Transfer as the kiosk runs: inspect, verify (copying every file into staging while
hashing it), two operators approve, then the staged copy is imported; the media is not read
after verification. Every step is audited; staging is removed afterwards, whatever the
outcome. Exit 0 imported, 1 rejected, 2 usage, approval, I/O or target error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from station.approval import require_noninteractive_allowed
from station.cli.approvals import approve_from_file, approve_interactively
from station.cli.common import print_json
from station.cli.progressbar import TerminalProgress
from station.cli.render import check_section
from station.importing import ImportFailed, ImportTarget, Receipt, StepEvent, make_target
from station.station import Station
from station.verify.trust import TrustStore
from station.workflow import Transfer

EXIT_IMPORTED = 0
EXIT_REJECTED = 1


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "import",
        help="verify a bundle and import it into the store, a Docker engine or a registry",
        description="Verify the bundle at PATH against the trust folder, copying it into "
        "staging, then import the staged copy into the target. Exit 0 imported, 1 rejected, "
        "2 usage, I/O or target error (a retry carries on where it stopped).",
    )
    parser.add_argument("path", metavar="PATH", help="folder holding the bundle (the media)")
    parser.add_argument(
        "--trust", metavar="DIR", help="trust folder (default: the station home's trust folder)"
    )
    parser.add_argument(
        "--to",
        metavar="TARGET",
        default="store",
        help="store[=DIR] (default: the station's store), docker[=SOCKET_URL] or registry=URL",
    )
    parser.add_argument(
        "--approvals",
        metavar="FILE",
        help="take both approvals from FILE (JSON; only where [approval] "
        "allow_noninteractive = true; for automated rigs). Without it, two operators are "
        "asked on the terminal",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=run)


def _print_step(event: StepEvent) -> None:
    if event.status in ("done", "failed"):
        detail = f" ({event.detail})" if event.detail and event.status == "done" else ""
        print(f"{event.status}: {event.step.description}{detail}", file=sys.stderr)


def render_receipt(receipt: Receipt) -> str:
    lines = [f"Imported bundle {receipt.bundle_digest} into {receipt.target}"]
    for image in receipt.images:
        names = ", ".join(image.references) or "(no tag)"
        lines.append(f"  {names}")
        lines.append(f"    config {image.config_digest}")
        if image.manifest_digest:
            lines.append(f"    manifest {image.manifest_digest}")
        lines.append(f"    at {image.where}")
    for delivered in receipt.files:
        lines.append(f"  file {delivered.path} -> {delivered.where}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    station = Station.open(getattr(args, "home", None))
    if args.trust:
        station.trust = TrustStore.load(Path(args.trust))
    if args.approvals:
        require_noninteractive_allowed(station.config)
    target = make_target(args.to, station.config)
    reason = target.check()
    if reason is not None:
        raise ImportFailed(reason, hint=f"fix {target.describe()} first, then import again")
    transfer = station.new_transfer(Path(args.path))
    try:
        return _transfer(transfer, target, args)
    finally:
        if not transfer.finished:
            transfer.abort("station import ended before the import finished")


def _print_lines(lines: list[str]) -> None:
    for line in lines:
        print(line)


def _transfer(transfer: Transfer, target: ImportTarget, args: argparse.Namespace) -> int:
    transfer.inspect()
    bar = TerminalProgress("verify")
    try:
        verification = transfer.verify(on_progress=bar.callback(), target=target)
    finally:
        bar.finish()
    if not verification.accepted:
        if args.json:
            print_json({"verification": verification.to_json(), "imported": False})
        else:
            print(f"Rejected: nothing was imported into {target.describe()}")
            for problem in verification.problems:
                print(f"  {problem.message}")
            _print_lines(check_section(verification))
        return EXIT_REJECTED
    if not args.json:
        _print_lines(check_section(verification))  # the operators read it before they approve
    if args.approvals:
        approve_from_file(transfer, Path(args.approvals))
    else:
        approve_interactively(transfer)
    bar = TerminalProgress("import")
    try:
        receipt = transfer.import_into(
            target, on_progress=bar.callback(), on_step=None if args.json else _print_step
        )
    finally:
        bar.finish()
    for warning in transfer.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.json:
        plan = transfer.plan
        print_json(
            {
                "verification": verification.to_json(),
                "imported": True,
                "approvals": [
                    {"operator": a.operator, "role": a.role.value, "at": a.at.isoformat()}
                    for a in transfer.approvals
                ],
                "plan": plan.to_json() if plan is not None else None,
                "receipt": receipt.to_json(),
                "warnings": transfer.warnings,
            }
        )
    else:
        print(render_receipt(receipt))
    return EXIT_IMPORTED
