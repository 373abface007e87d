"""The two-person step for `station import`: on the terminal, or from a file for test rigs.

On a terminal each operator types a name and PIN (not echoed); the second also types the last
8 characters of the bundle digest from the transfer request form. A file of approvals is for
automated rigs only: the station config must allow it, the file must not be readable by others,
and each approval is audited as non-interactive.
"""

from __future__ import annotations

import getpass
import json
import os
import stat
import sys
from pathlib import Path

from station.errors import UsageError
from station.workflow import Transfer


def _group_digest(digest: str) -> str:
    hex_part = digest.removeprefix("sha256:")
    return " ".join(hex_part[i : i + 4] for i in range(0, len(hex_part), 4))


def approve_interactively(transfer: Transfer) -> None:
    if not sys.stdin.isatty():
        raise UsageError(
            "two operators must approve the import, and there is no terminal to ask them",
            hint="run on a terminal, or use --approvals FILE where the station allows it",
        )
    assert transfer.verification is not None  # noqa: S101 - verified before approval
    digest = transfer.verification.bundle_digest
    print(f"Bundle digest: sha256 {_group_digest(digest)}", file=sys.stderr)
    for turn in ("First", "Second"):
        name = input(f"{turn} operator name: ").strip()
        secret = getpass.getpass(f"PIN for {name}: ")
        suffix = None
        if turn == "Second":
            suffix = input("Last 8 characters of the digest, from the transfer request form: ")
        transfer.approve(name, secret, suffix)


def approve_from_file(transfer: Transfer, path: Path) -> None:
    """Approvals from a JSON list: `[{"operator", "pin"}, {"operator", "pin", "digest_suffix"}]`."""
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise UsageError(f"{path} is not a regular file")
        if st.st_mode & 0o077:
            raise UsageError(
                f"{path} holds PINs and is readable by others",
                hint=f"chmod 600 {path}",
            )
        entries = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise UsageError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(entries, list) or len(entries) != 2:
        raise UsageError(f"{path} must hold a JSON list of exactly two approvals")
    for entry in entries:
        if not isinstance(entry, dict) or not all(
            isinstance(entry.get(k), str) for k in ("operator", "pin")
        ):
            raise UsageError(f'{path}: each approval needs "operator" and "pin" strings')
        suffix = entry.get("digest_suffix")
        transfer.approve(
            entry["operator"],
            entry["pin"],
            suffix if isinstance(suffix, str) else None,
            noninteractive=True,
        )
