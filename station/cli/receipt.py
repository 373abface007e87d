"""`station receipt show|verify FILE`: read a transfer receipt, check its signature offline.

`verify` exits 0 when the file is a receipt signed by the given station key, 1 when it is not
(bad signature, another key, not a receipt), 2 when the file or the key cannot be read.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from station.cli.common import print_json
from station.errors import StationError

EXIT_OK = 0
EXIT_REJECTED = 1


def register(subparsers: Any) -> None:
    """Add `receipt show` and `receipt verify` to the `station` parser."""
    receipt = subparsers.add_parser(
        "receipt",
        help="show or verify a signed transfer receipt",
        description="Show a transfer receipt (<home>/receipts/*.json), or check its signature "
        "with the station's public key, offline.",
    )
    actions = receipt.add_subparsers(dest="receipt_command", metavar="ACTION")
    actions.required = True
    show = actions.add_parser(
        "show", help="print what a receipt says (its signature is not checked)",
        description="Print what a receipt says. The signature is not checked: use verify.",
    )
    show.add_argument("file", metavar="FILE")
    show.add_argument("--json", action="store_true", help="print the in-toto statement")
    show.set_defaults(func=run_show)
    verify = actions.add_parser(
        "verify", help="check a receipt's signature with the station key (exit 0, 1 or 2)",
        description="Check that FILE is a DSSE envelope holding a transfer receipt, signed by "
        "the key in PUB. Exit 0 valid, 1 invalid, 2 the file or key cannot be read.",
    )
    verify.add_argument("file", metavar="FILE")
    verify.add_argument("--station-key", metavar="PUB", required=True,
                        help="the station's public key (station.pub, PEM)")
    verify.add_argument("--json", action="store_true", help="print the result as JSON")
    verify.set_defaults(func=run_verify)


def _read(path: Path) -> Any:
    from station.receipts import read_envelope

    try:
        return read_envelope(path)
    except OSError as exc:
        raise StationError(f"cannot read {path}: {exc.strerror}") from exc


def run_show(args: argparse.Namespace) -> int:
    path = Path(args.file)
    envelope = _read(path)
    statement = envelope.payload_json()
    if args.json:
        print_json(statement)
        return EXIT_OK
    predicate = statement.get("predicate") or {}
    bundle = predicate.get("bundle") or {}
    verdict = predicate.get("verdict") or {}
    print(f"receipt {path} (signature NOT checked here: use `station receipt verify`)")
    print(f"  outcome:   {predicate.get('outcome')} at {predicate.get('finished')}")
    print(f"  message:   {predicate.get('message')}")
    print(f"  bundle:    {bundle.get('name') or '-'} {bundle.get('digest') or '(not read)'}")
    print(f"  verdict:   {verdict.get('verdict') or '-'}")
    for reason in verdict.get("reasons", []):
        print(f"    reason:  {reason.get('code')}: {reason.get('message')}")
    for signer in predicate.get("signers", []):
        key = f"{signer.get('scheme')} {signer.get('fingerprint')}"
        print(f"  signer:    {signer.get('name')} ({key})")
    for approval in predicate.get("approvals", []):
        who = f"{approval.get('operator')} ({approval.get('role')})"
        print(f"  approval:  {who} at {approval.get('at')}")
    landed = predicate.get("landed") or {}
    for image in landed.get("images", []):
        refs = ", ".join(image.get("references", [])) or "(untagged)"
        print(f"  image:     {refs} {image.get('manifest_digest')} -> {image.get('where')}")
    for delivered in landed.get("files", []):
        print(f"  file:      {delivered.get('path')} sha256:{delivered.get('sha256')}")
    if predicate.get("findings"):
        print(f"  findings:  {predicate['findings']}")
    audit = predicate.get("audit") or {}
    print(f"  audit log: record {audit.get('seq')}, head {audit.get('head')}")
    print(f"  station:   {predicate.get('station')}")
    return EXIT_OK


def run_verify(args: argparse.Namespace) -> int:
    from station.receipts import check_receipt
    from station.signing import load_public_key

    path = Path(args.file)
    key = load_public_key(Path(args.station_key))
    check = check_receipt(_read(path), key)
    if args.json:
        print_json(check.to_json(path, key))
    elif check.valid:
        print(f"{path}: valid receipt, {check.reason}")
    else:
        print(f"{path}: INVALID: {check.reason}")
    return EXIT_OK if check.valid else EXIT_REJECTED
