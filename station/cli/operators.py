"""`station operators add|list|disable|enable`: the accounts that approve transfers.

Whoever can write the station home administers the accounts (the kiosk user cannot); each
change is an `admin-action` record in the audit log, with the system user as actor.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from typing import Any

from station.approval import OperatorStore, Role, check_name, check_new_secret
from station.audit import AuditLog
from station.config import StationConfig
from station.errors import UsageError

EXIT_OK = 0


def register(subparsers: Any) -> None:
    """Add `operators add|list|disable|enable` to the `station` parser."""
    operators = subparsers.add_parser(
        "operators",
        help="manage the accounts that approve transfers",
        description="Add, list, disable or re-enable operator accounts "
        "(kept in <home>/operators.toml).",
    )
    actions = operators.add_subparsers(dest="operators_command", metavar="ACTION")
    actions.required = True

    add = actions.add_parser(
        "add",
        help="create an account (asks for the PIN twice)",
        description="Create an account. The PIN or passphrase (6 characters or more) is asked "
        "twice on the terminal, or read from one line of stdin with --pin-stdin.",
    )
    add.add_argument("name", metavar="NAME")
    add.add_argument(
        "--role", required=True, choices=[r.value for r in Role], help="what the account may do"
    )
    add.add_argument("--pin-stdin", action="store_true", help="read the PIN from stdin (scripts)")
    add.set_defaults(func=run_add)

    listing = actions.add_parser("list", help="show accounts, roles and status")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.set_defaults(func=run_list)

    disable = actions.add_parser("disable", help="stop an account from approving")
    disable.add_argument("name", metavar="NAME")
    disable.set_defaults(func=run_disable)

    enable = actions.add_parser("enable", help="enable an account again and lift a lock-out")
    enable.add_argument("name", metavar="NAME")
    enable.set_defaults(func=run_enable)


def _read_pin(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        if not line:
            raise UsageError("--pin-stdin: nothing on stdin")
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        raise UsageError("no terminal to ask for the PIN", hint="use --pin-stdin in scripts")
    first = getpass.getpass("PIN or passphrase: ")
    if getpass.getpass("Again: ") != first:
        raise UsageError("the two entries differ; nothing was changed")
    return first


def _system_user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return f"uid {os.getuid()}"


def _audit(config: StationConfig, action: str, name: str, **fields: Any) -> None:
    AuditLog.from_config(config).append(
        "admin-action", actor=_system_user(), action=action, operator=name, **fields
    )


def run_add(args: argparse.Namespace) -> int:
    config = StationConfig.load(args.home)
    check_name(args.name)
    pin = check_new_secret(_read_pin(args.pin_stdin))
    operator = OperatorStore.from_config(config).add(args.name, Role(args.role), pin)
    _audit(config, "operator-added", operator.name, role=operator.role.value)
    print(f"added {operator.role.value} {operator.name}")
    return EXIT_OK


def run_list(args: argparse.Namespace) -> int:
    accounts = OperatorStore.from_config(StationConfig.load(args.home)).load()
    rows: list[dict[str, Any]] = [
        {
            "name": op.name,
            "role": op.role.value,
            "status": op.status,
            "failures": op.failures,
            "created": op.created,
        }
        for op in sorted(accounts.values(), key=lambda op: op.name)
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    if not rows:
        print("no operator accounts; add one with `station operators add NAME --role ROLE`")
        return EXIT_OK
    width = max(len(row["name"]) for row in rows)
    for row in rows:
        print(f"{row['name']:<{width}}  {row['role']:<8}  {row['status']:<8}  {row['created']}")
    return EXIT_OK


def _set_enabled(args: argparse.Namespace, enabled: bool) -> int:
    config = StationConfig.load(args.home)
    OperatorStore.from_config(config).set_enabled(args.name, enabled)
    word = "enabled" if enabled else "disabled"
    _audit(config, f"operator-{word}", args.name)
    print(f"{word} {args.name}")
    return EXIT_OK


def run_disable(args: argparse.Namespace) -> int:
    return _set_enabled(args, False)


def run_enable(args: argparse.Namespace) -> int:
    return _set_enabled(args, True)
