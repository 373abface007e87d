"""Builders for bundles in tmp_path: genuine ones, and one tampering helper per attack."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from station.verify import minisign


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
    secret, public = minisign.generate_keypair(name, keys)
    trust = base / f"trust-{name}"
    trust.mkdir()
    (trust / public.name).write_bytes(public.read_bytes())
    return Signer(name, secret, public, trust)


def sign_file(signer: Signer, path: Path) -> None:
    key = minisign.load_secret_key(signer.secret)
    signature = minisign.sign(path.read_bytes(), key, trusted_comment=f"test {path.name}")
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
