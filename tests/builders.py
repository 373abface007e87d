"""Builders for bundles in tmp_path: genuine ones, and one tampering helper per attack."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from station.publish import minisign_keys


@dataclass(frozen=True)
class Signer:
    """A minisign key pair; `trust` is a trust folder holding only its public key."""

    name: str
    secret: Path
    public: Path
    trust: Path


def make_signer(base: Path, name: str = "alice") -> Signer:
    keys = base / f"keys-{name}"
    keys.mkdir(parents=True)
    secret, public = minisign_keys.generate_keypair(name, keys)
    trust = base / f"trust-{name}"
    trust.mkdir()
    (trust / public.name).write_bytes(public.read_bytes())
    return Signer(name, secret, public, trust)


def sign_file(signer: Signer, path: Path) -> None:
    key = minisign_keys.load_secret_key(signer.secret)
    signature = minisign_keys.sign(path.read_bytes(), key, trusted_comment=f"test {path.name}")
    path.with_name(path.name + ".minisig").write_bytes(signature)


def sums_line(name: str, data: bytes, binary: bool = False) -> str:
    return f"{hashlib.sha256(data).hexdigest()} {'*' if binary else ' '}{name}\n"


def make_sums_bundle(
    root: Path, files: Mapping[str, bytes], signer: Signer | None = None
) -> Path:
    """A plain-media bundle: the files, SHA256SUMS listing them, and its minisign signature."""
    root.mkdir(parents=True, exist_ok=True)
    lines = []
    for name, data in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        lines.append(sums_line(name, data))
    sums = root / "SHA256SUMS"
    sums.write_text("".join(lines))
    if signer is not None:
        sign_file(signer, sums)
    return root


def write_signed_sums(root: Path, text: str, signer: Signer) -> None:
    """Replace SHA256SUMS with `text` and sign it: for lines no honest tool would write."""
    sums = root / "SHA256SUMS"
    sums.write_text(text)
    sign_file(signer, sums)


def scripted_approvals(home: Path, media: Path) -> Path:
    """Allow scripted approvals in `home`, add two operators, and write their approvals file.

    For tests of `station import --approvals FILE`: the second approval carries the last 8
    characters of the bundle digest, as a rig reads them from the transfer request form.
    """
    import json

    from station.approval import OperatorStore
    from station.bundle import open_bundle
    from station.config import StationConfig

    home.mkdir(parents=True, exist_ok=True)
    config_path = home / "station.toml"
    existing = config_path.read_text() if config_path.exists() else ""
    if "allow_noninteractive" not in existing:
        config_path.write_text(existing + "\n[approval]\nallow_noninteractive = true\n")
    operators = OperatorStore.from_config(StationConfig.load(home))
    for name, role, pin in (("alice", "operator", "alice-pin-1"),
                            ("victor", "verifier", "victor-pin-2")):
        if operators.get(name) is None:
            operators.add(name, role, pin)
    digest = open_bundle(media).digest
    approvals = home.parent / f"{home.name}-approvals.json"
    approvals.write_text(json.dumps([
        {"operator": "alice", "pin": "alice-pin-1"},
        {"operator": "victor", "pin": "victor-pin-2", "digest_suffix": digest[-8:]},
    ]))
    approvals.chmod(0o600)
    return approvals


ROLLBACK_CONFIG = '[audit]\nsyslog = "off"\n[policy]\nrollback_protection = true\n'
"""station.toml of a home that refuses older releases of a channel (no syslog in tests)."""


def sequenced_bundle(where: Path, signer: Signer, files: list[Path], sequence: int) -> Path:
    """`where/seq<N>`: a signed bundle of channel `ops` with release sequence N (made once,
    so a test can present the same release again)."""
    from station.publish.bundle import create_bundle

    out = where / f"seq{sequence}"
    if not out.exists():
        create_bundle(out, secret_key=signer.secret, files=files, name="n", channel="ops",
                      sequence=sequence)
    return out


def app_bundle(tmp_path: Path, signer: Signer) -> Path:
    """`tmp_path/stick`: a signed bundle of one small image, registry.example.org/ops/app:1.0."""
    from station.publish.bundle import create_bundle
    from station.publish.imagebuild import build_oci_layout, write_oci_archive

    layout = tmp_path / "layout"
    build_oci_layout(layout, "registry.example.org/ops/app:1.0", {"app": b"payload\n"})
    archive = tmp_path / "app.tar"
    write_oci_archive(layout, archive)
    out = tmp_path / "stick"
    create_bundle(out, secret_key=signer.secret, image_archives=[archive], name="app")
    return out
