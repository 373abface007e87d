"""`station keys`: make a minisign signing key pair, and show what the trust store holds.

`generate` runs on the producer's side (where bundles are signed), never needs the station
home, and refuses to overwrite. `list` shows each trusted key with the fingerprint operators
compare out of band, and every file in the trust folder that was refused.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from station.cli.common import load_config, load_trust, print_json
from station.publish import minisign_keys

EXIT_OK = 0


def register(subparsers: Any) -> None:
    """Add `keys generate` and `keys list` to the `station` parser."""
    keys = subparsers.add_parser(
        "keys",
        help="generate a signing key pair, list the trust store",
        description="Generate a minisign signing key pair, or list the station's trust store.",
    )
    actions = keys.add_subparsers(dest="keys_command", metavar="ACTION")
    actions.required = True

    generate = actions.add_parser(
        "generate",
        help="write NAME.key (secret, unencrypted) and NAME.pub (public) for minisign",
        description="Write a new minisign key pair: NAME.key (secret, not encrypted, mode 0600) "
        "and NAME.pub (public; copy it into the station's trust folder). Existing files are "
        "never overwritten (exit 2).",
    )
    generate.add_argument("name", metavar="NAME", help="key name; also the signer's name")
    generate.add_argument(
        "--dir", metavar="DIR", default=".", help="folder for both files (default: .)"
    )
    generate.set_defaults(func=run_generate)

    listing = actions.add_parser(
        "list",
        help="show trusted keys and refused key files",
        description="Show each trusted key (name, scheme, fingerprint) and each file in the "
        "trust folder that is not trusted, with the reason.",
    )
    listing.add_argument(
        "--trust", metavar="DIR", help="trust folder (default: the station home's trust folder)"
    )
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.set_defaults(func=run_list)

    init = actions.add_parser(
        "station-init",
        help="make the station's own Ed25519 signing key (as root, at installation)",
        description="Make the station's identity: an Ed25519 key whose private part only root "
        "can read (SIGNER_DIR/station.key, mode 0600), its public part written to "
        "<home>/station.pub (PEM). Prints the fingerprint for the site's records. An existing "
        "key is kept (station.pub is written again from it). Exit 0; 2 when not root or the "
        "files cannot be written.",
    )
    init.add_argument(
        "--signer-dir",
        metavar="DIR",
        help="where the private key and the signed checkpoints live "
        "(default: [audit] signer_dir, else /var/lib/station-signer)",
    )
    init.set_defaults(func=run_station_init)


def run_generate(args: argparse.Namespace) -> int:
    secret_path, public_path = minisign_keys.generate_keypair(args.name, Path(args.dir))
    key = minisign_keys.load_secret_key(secret_path)
    print(f"secret key:  {secret_path} (not encrypted; keep it with the signer, off the station)")
    print(f"public key:  {public_path} (copy it into the station's trust folder)")
    print(f"fingerprint: {key.public_key.fingerprint}")
    return EXIT_OK


def run_station_init(args: argparse.Namespace) -> int:
    import os

    from station.checkpoints import audit_settings
    from station.errors import UsageError
    from station.signing import PUBLIC_NAME, SignerPaths, generate_station_key
    from station.signing import fingerprint as key_fingerprint

    if os.geteuid() != 0:
        raise UsageError(
            "station keys station-init must run as root: only root may read the private key",
            hint="run it with sudo at installation (packaging/install-offline.sh does)",
        )
    config = load_config(args)
    signer_dir = Path(args.signer_dir) if args.signer_dir else audit_settings(config).signer_dir
    paths = SignerPaths(config.home, signer_dir)
    try:
        public, made = generate_station_key(paths)
    except OSError as exc:
        raise UsageError(f"cannot write the station key: {exc.strerror}: {exc.filename}") from exc
    what = "made" if made else "kept (it existed already)"
    print(f"private key: {paths.key} ({what}; root only, mode 0600)")
    print(f"public key:  {config.home / PUBLIC_NAME} (PEM; give it to the auditors)")
    print(f"fingerprint: {group_fingerprint(key_fingerprint(public))}")
    return EXIT_OK


def group_fingerprint(fingerprint: str) -> str:
    """40-hex OpenPGP fingerprints in groups of four, as gpg shows them; short ids as-is."""
    if len(fingerprint) <= 16:
        return fingerprint
    return " ".join(fingerprint[i : i + 4] for i in range(0, len(fingerprint), 4))


def run_list(args: argparse.Namespace) -> int:
    store = load_trust(args, load_config(args))
    if args.json:
        print_json(
            {
                "trust_dir": str(store.directory),
                "keys": [key.to_json() for key in store.keys],
                "problems": [problem.to_json() for problem in store.problems],
            }
        )
        return EXIT_OK
    print(f"trust store: {store.directory}")
    if not store.keys:
        print("no trusted keys")
    rows = [(key.name, key.scheme, group_fingerprint(key.fingerprint)) for key in store.keys]
    name_width = max((len(row[0]) for row in rows), default=4)
    for name, scheme, fingerprint in rows:
        print(f"  {name:<{name_width}}  {scheme:<8}  {fingerprint}")
    for problem in store.problems:
        print(f"not trusted: {problem.message}")
    return EXIT_OK
