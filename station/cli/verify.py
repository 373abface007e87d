"""`station verify PATH --trust DIR [--json]`: the verdict, exit 0 accepted, 1 rejected."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from station.bundle import open_bundle
from station.cli.common import load_config, load_trust, print_json
from station.cli.progressbar import TerminalProgress
from station.cli.render import render_verification
from station.malware.settings import MalwareSettings
from station.scan.check import checks_for
from station.scratch import FOLDER
from station.verify.policy import Policy
from station.verify.verification import verify_bundle

EXIT_ACCEPTED = 0
EXIT_REJECTED = 1


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "verify",
        help="verify checksums and signatures of a bundle",
        description="Verify the bundle at PATH against the trust folder and the station's "
        "policy: signatures over the manifest, the size and SHA-256 of every listed file, "
        "every image read strictly from the verified bytes, then the policy ([policy] in "
        "station.toml, the same rules an import applies). Exit 0 accepted, 1 rejected, "
        "2 usage or I/O error.",
    )
    parser.add_argument("path", metavar="PATH", help="folder holding the bundle (the media)")
    parser.add_argument(
        "--trust", metavar="DIR", help="trust folder (default: the station home's trust folder)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = load_config(args)
    trust = load_trust(args, config)
    policy = Policy.from_config(config)
    bundle = open_bundle(Path(args.path), config.limits)
    bar = TerminalProgress("verify")
    try:
        verification = verify_bundle(
            bundle, trust, policy, limits=config.limits, checks=checks_for(config),
            malware=MalwareSettings.from_config(config), scratch_root=config.home / FOLDER,
            on_progress=bar.callback(),
        )
    finally:
        bar.finish()
    if args.json:
        print_json(verification.to_json())
    else:
        print(render_verification(bundle, verification))
    return EXIT_ACCEPTED if verification.accepted else EXIT_REJECTED
