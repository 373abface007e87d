"""Pieces every `station` command shares: the station home, the trust folder, JSON output."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from station.config import StationConfig
from station.verify.trust import TrustStore


def load_config(args: argparse.Namespace) -> StationConfig:
    return StationConfig.load(getattr(args, "home", None))


def load_trust(args: argparse.Namespace, config: StationConfig) -> TrustStore:
    """`--trust DIR` when given, else the trust folder of the station home."""
    directory = Path(args.trust) if getattr(args, "trust", None) else config.trust_dir
    return TrustStore.load(directory)


def print_json(doc: object) -> None:
    json.dump(doc, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
