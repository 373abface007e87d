"""`station` entry point: one argparse tree, errors as plain messages and exit codes.

Exit codes (scripts depend on them): 0 success, 1 rejected (verification or policy said no),
2 usage or I/O error. Every command module exposes `register(subparsers)`; add new command
groups to `COMMAND_MODULES`.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from station.errors import StationError

EXIT_OK = 0
EXIT_REJECTED = 1
EXIT_ERROR = 2

COMMAND_MODULES: tuple[str, ...] = (
    "station.cli.inspect",
    "station.cli.verify",
    "station.cli.keys",
    "station.cli.bundle",
    "station.cli.media",
    "station.cli.audit",
    "station.cli.operators",
    "station.cli.importing",
)


class _Parser(argparse.ArgumentParser):
    """argparse that exits with 2 and a one-line hint, as every other usage error does."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(EXIT_ERROR)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="station",
        description="Inspect, verify and import transfer bundles for an air-gapped network.",
    )
    parser.add_argument(
        "--home",
        metavar="DIR",
        help="station home (default: $STATION_HOME, else /var/lib/station)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in COMMAND_MODULES:
        module = importlib.import_module(name)
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except StationError as exc:
        print(f"station: error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"station: what to do: {exc.hint}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("station: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_ERROR
    except Exception as exc:
        if os.environ.get("STATION_DEBUG"):
            raise
        print(
            f"station: internal error: {type(exc).__name__}: {exc}\n"
            "station: nothing was imported; rerun with STATION_DEBUG=1 for details "
            "and report it",
            file=sys.stderr,
        )
        return EXIT_ERROR
    return code


if __name__ == "__main__":
    sys.exit(main())
