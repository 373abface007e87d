"""`station bundle create OUT --sign KEY FILE... [--image-archive TAR...]`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from station.errors import UsageError
from station.publish.bundle import create_bundle


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "bundle",
        help="create signed bundles (the connected side)",
        description="Create transfer bundles on the connected side.",
    )
    actions = parser.add_subparsers(dest="bundle_command", metavar="ACTION")
    actions.required = True
    create = actions.add_parser(
        "create",
        help="pack files and image archives into a signed bundle.json bundle",
        description="Copy FILEs and image archives into OUT, write bundle.json listing each "
        "with size and SHA-256, and sign it with the minisign KEY (bundle.json.minisig). "
        "OUT must not exist or be empty. Exit 0 on success, 2 on error.",
    )
    create.add_argument("out", metavar="OUT", help="folder to create (e.g. on the USB stick)")
    create.add_argument("files", metavar="FILE", nargs="*", help="files, SBOMs, scan reports")
    create.add_argument("--sign", metavar="KEY", required=True, help="minisign secret key")
    create.add_argument(
        "--image-archive",
        metavar="TAR",
        action="append",
        default=[],
        help="docker save or oci-archive tarball (repeatable)",
    )
    create.add_argument("--name", help="bundle name (default: OUT's folder name)")
    create.add_argument("--channel", default="default", help="release channel (default: default)")
    create.add_argument(
        "--sequence",
        type=int,
        default=1,
        help="sequence number within the channel; must grow with each bundle (default: 1)",
    )
    create.add_argument("--producer", help="who made it (default: host name and version)")
    create.set_defaults(func=run_create)


def run_create(args: argparse.Namespace) -> int:
    if args.sequence < 0:
        raise UsageError("--sequence must not be negative")
    out = Path(args.out)
    manifest = create_bundle(
        out,
        secret_key=Path(args.sign),
        files=[Path(f) for f in args.files],
        image_archives=[Path(t) for t in args.image_archive],
        name=args.name or out.resolve().name,
        channel=args.channel,
        sequence=args.sequence,
        producer=args.producer,
    )
    print(f"created {manifest} (signed: {manifest}.minisig)")
    return 0
