"""`station import PATH --trust DIR --to TARGET [--json]`: verify, stage, then import.

The bundle is verified again here (copying every file into staging while hashing it), and only
an accepted bundle's staged copy is imported; the media is not read after verification.
Staging is removed afterwards, whatever the outcome. Exit 0 imported, 1 rejected, 2 error.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import Any

from station.bundle import open_bundle
from station.cli.common import load_config, load_trust, print_json
from station.cli.progressbar import TerminalProgress
from station.importing import ImportFailed, Receipt, StepEvent, make_target
from station.verify import verify_bundle

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
    config = load_config(args)
    trust = load_trust(args, config)
    target = make_target(args.to, config)
    reason = target.check()
    if reason is not None:
        raise ImportFailed(reason, hint=f"fix {target.describe()} first, then import again")
    bundle = open_bundle(Path(args.path), config.limits)
    bar = TerminalProgress("verify")
    try:
        verification = verify_bundle(
            bundle,
            trust,
            limits=config.limits,
            staging_root=config.staging_dir,
            on_progress=bar.callback(),
        )
    finally:
        bar.finish()
    staged = verification.staged
    if not verification.accepted or staged is None:
        if args.json:
            print_json({"verification": verification.to_json(), "imported": False})
        else:
            print(f"Rejected: nothing was imported into {target.describe()}")
            for problem in verification.problems:
                print(f"  {problem.message}")
        return EXIT_REJECTED
    try:
        plan = target.plan(staged)
        bar = TerminalProgress("import")
        try:
            receipt = target.run(
                plan, on_progress=bar.callback(), on_step=None if args.json else _print_step
            )
        finally:
            bar.finish()
    finally:
        shutil.rmtree(staged.root, ignore_errors=True)
    if args.json:
        print_json(
            {
                "verification": verification.to_json(),
                "imported": True,
                "plan": plan.to_json(),
                "receipt": receipt.to_json(),
            }
        )
    else:
        print(render_receipt(receipt))
    return EXIT_IMPORTED
