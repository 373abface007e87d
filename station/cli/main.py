"""`station` entry point: one argparse tree, errors as plain messages and exit codes.

Exit codes (scripts depend on them): 0 success, 1 rejected (verification or policy said no),
2 usage or I/O error. Every command module exposes `register(subparsers)`; add new command
groups to `COMMAND_MODULES`. Only the module of the command given is imported, which keeps
`station verify` from paying for the Docker SDK at start-up.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from station.errors import StationError
from station.text import SafeStream

EXIT_OK = 0
EXIT_REJECTED = 1
EXIT_ERROR = 2

COMMAND_MODULES: dict[str, str] = {
    "inspect": "station.cli.inspect",
    "verify": "station.cli.verify",
    "keys": "station.cli.keys",
    "bundle": "station.cli.bundle",
    "media": "station.cli.media",
    "audit": "station.cli.audit",
    "operators": "station.cli.operators",
    "import": "station.cli.importing",
    "scan": "station.cli.scan",
    "vulndb": "station.cli.vulndb",
    "receipt": "station.cli.receipt",
    "malware": "station.cli.malware",
}


class _Parser(argparse.ArgumentParser):
    """argparse that exits with 2 and a one-line hint, as every other usage error does."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(EXIT_ERROR)


def _chosen_command(argv: Sequence[str]) -> str | None:
    """The command named on the line, so only its module (and its imports) need loading."""
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--home":
            skip = True
        elif not arg.startswith("-"):
            return arg if arg in COMMAND_MODULES else None
    return None


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
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
    chosen = _chosen_command(argv)
    names = [COMMAND_MODULES[chosen]] if chosen else list(COMMAND_MODULES.values())
    for name in names:
        importlib.import_module(name).register(sub)
    _accept_home_everywhere(parser)
    return parser


def _accept_home_everywhere(parser: argparse.ArgumentParser) -> None:
    """Let `--home DIR` also follow the command (`station verify PATH --home DIR`)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                if not any("--home" in a.option_strings for a in child._actions):
                    child.add_argument("--home", metavar="DIR", default=argparse.SUPPRESS,
                                       help=argparse.SUPPRESS)
                _accept_home_everywhere(child)


def main(argv: Sequence[str] | None = None) -> int:
    # Whatever a command prints may hold text from the media: no escape sequence gets out.
    stdout, stderr = sys.stdout, sys.stderr
    sys.stdout = SafeStream(stdout)
    sys.stderr = SafeStream(stderr)
    try:
        return _main(argv)
    finally:
        sys.stdout, sys.stderr = stdout, stderr


def _main(argv: Sequence[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
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
            "station: the audit log says what was done; rerun with STATION_DEBUG=1 for details "
            "and report it",
            file=sys.stderr,
        )
        return EXIT_ERROR
    return code


if __name__ == "__main__":
    sys.exit(main())
