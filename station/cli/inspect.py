"""`station inspect PATH [--json]`: what the media holds, read-only, without verifying."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from station.bundle import open_bundle
from station.bundle.describe import bundle_to_json
from station.bundle.summaries import summarise_items
from station.cli.common import load_config, print_json
from station.cli.render import render_bundle


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "inspect",
        help="show what a bundle holds, without verifying it",
        description="Show the files and images (tags, platforms, layers, sizes) of the bundle "
        "at PATH, and what its SBOMs (packages) and scan reports (counts by severity) say, "
        "as read from the media, not yet verified. Reads the media only; checks names but not "
        "contents. Exit 0 when the bundle could be read, 2 when not.",
    )
    parser.add_argument("path", metavar="PATH", help="folder holding the bundle (the media)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = load_config(args)
    bundle = open_bundle(Path(args.path), config.limits)
    summaries = summarise_items(bundle.root, bundle.items, config.limits)
    if args.json:
        print_json(bundle_to_json(bundle, summaries))
    else:
        print(render_bundle(bundle, summaries))
    return 0
