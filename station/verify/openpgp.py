"""OpenPGP keys and detached signatures, checked with Debian's `gpgv` and nothing else.

The user's keyring is never consulted: every call builds what it needs in a private temporary
folder (mode 0700) that is also gpg's `--homedir`, and removes it afterwards. `gpgv` gets the
trusted keys as one binary keyring passed by absolute path (gpgv wants it absolute) and reports
through `--status-fd 1`; only the status lines decide. Reading a key (`gpg --show-keys`,
`gpg --dearmor`) uses `--no-autostart`, so no gpg-agent is ever started here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from station.bundle.safety import describe_name
from station.children import run_child
from station.errors import StationError

SCHEME = "openpgp"
TIMEOUT_SECONDS = 30.0
MAX_KEY_BYTES = 1024 * 1024
MAX_SIGNATURE_BYTES = 64 * 1024
ARMOR_KEY = b"-----BEGIN PGP PUBLIC KEY BLOCK-----"
ARMOR_SECRET = b"-----BEGIN PGP PRIVATE KEY BLOCK-----"
ARMOR_SIGNATURE = b"-----BEGIN PGP SIGNATURE-----"
_STATUS = "[GNUPG:] "
# Signature classes that sign a document: 0x00 binary, 0x01 canonical text.
_DOCUMENT_CLASSES = {"00", "01"}


class OpenPGPError(StationError):
    """An OpenPGP key cannot be read, or a tool needed for it is missing."""


def is_armored_signature(data: bytes) -> bool:
    return data.lstrip()[: len(ARMOR_SIGNATURE)] == ARMOR_SIGNATURE


def is_binary_signature(data: bytes) -> bool:
    """True when the first packet is an OpenPGP signature packet (tag 2), old or new format."""
    if not data:
        return False
    first = data[0]
    if first & 0xC0 == 0xC0:
        return first & 0x3F == 2
    if first & 0xC0 == 0x80:
        return (first >> 2) & 0x0F == 2
    return False


def looks_like_signature(data: bytes) -> bool:
    return is_armored_signature(data) or is_binary_signature(data)


@dataclass(frozen=True)
class OpenPGPKey:
    """One transferable public key: primary fingerprint, subkeys, user ids, binary form."""

    fingerprint: str
    subkeys: tuple[str, ...]
    user_ids: tuple[str, ...]
    binary: bytes


def _tool_env(home: str) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "GNUPGHOME": home}


def _run(args: list[str], data: bytes, home: str, what: str) -> subprocess.CompletedProcess[bytes]:
    try:
        return run_child(args, input=data, timeout=TIMEOUT_SECONDS, env=_tool_env(home))
    except subprocess.TimeoutExpired as exc:
        raise OpenPGPError(f"{what} took longer than {TIMEOUT_SECONDS:.0f} s") from exc
    except OSError as exc:
        raise OpenPGPError(f"{what} could not run: {exc.strerror or exc}") from exc


def _stderr_line(result: subprocess.CompletedProcess[bytes]) -> str:
    """gpg's last complaint, escaped: it may quote bytes from the hostile signature."""
    lines = result.stderr.decode("utf-8", "replace").strip().splitlines()
    return describe_name(lines[-1][:200]) if lines else f"exit status {result.returncode}"


def read_public_key(data: bytes) -> OpenPGPKey:
    """Parse one OpenPGP public key (armored or binary) with `gpg --show-keys`.

    Refuses secret keys and files holding more or fewer than one primary key, so that each
    trust store file names exactly one signer.
    """
    if len(data) > MAX_KEY_BYTES:
        raise OpenPGPError(f"too large for an OpenPGP public key ({len(data)} bytes)")
    if ARMOR_SECRET in data:
        raise OpenPGPError("this is a secret key; put only the exported public key here")
    if shutil.which("gpg") is None:
        raise OpenPGPError("gpg is not installed on this station; OpenPGP keys cannot be read")
    with tempfile.TemporaryDirectory(prefix="station-gpg-") as home:
        base = ["gpg", "--homedir", home, "--batch", "--no-tty", "--no-autostart", "--quiet"]
        binary = data
        if data.lstrip().startswith(ARMOR_KEY):
            result = _run([*base, "--dearmor"], data, home, "gpg --dearmor")
            if result.returncode != 0 or not result.stdout:
                raise OpenPGPError(f"not a readable OpenPGP key ({_stderr_line(result)})")
            binary = result.stdout
        result = _run([*base, "--with-colons", "--show-keys"], binary, home, "gpg --show-keys")
    if result.returncode != 0:
        raise OpenPGPError(f"not a readable OpenPGP key ({_stderr_line(result)})")
    return _parse_listing(result.stdout.decode("utf-8", "replace"), binary)


def _parse_listing(listing: str, binary: bytes) -> OpenPGPKey:
    """Primary and subkey fingerprints from `--with-colons` output (an fpr follows its key)."""
    primaries: list[str] = []
    subkeys: list[str] = []
    user_ids: list[str] = []
    current: str | None = None
    for line in listing.splitlines():
        fields = line.split(":")
        record = fields[0]
        if record in ("sec", "ssb"):
            raise OpenPGPError("this is a secret key; put only the exported public key here")
        if record in ("pub", "sub"):
            current = record
        elif record == "fpr" and current is not None and len(fields) > 9:
            (primaries if current == "pub" else subkeys).append(fields[9].upper())
            current = None
        elif record == "uid" and len(fields) > 9:
            user_ids.append(fields[9])
    if len(primaries) != 1:
        raise OpenPGPError(
            f"holds {len(primaries)} OpenPGP keys; put exactly one public key in each file"
        )
    return OpenPGPKey(
        fingerprint=primaries[0],
        subkeys=tuple(subkeys),
        user_ids=tuple(user_ids),
        binary=binary,
    )


class Outcome(StrEnum):
    """What gpgv concluded about one detached signature."""

    GOOD = "good"
    BAD = "bad"
    NO_PUBKEY = "no-pubkey"
    EXPIRED_KEY = "expired-key"
    REVOKED_KEY = "revoked-key"
    EXPIRED_SIGNATURE = "expired-signature"
    ERROR = "error"


@dataclass(frozen=True)
class GpgvResult:
    """gpgv's verdict: the outcome, the key it names and a plain-words detail for errors.

    `fingerprint` is the primary key's fingerprint when gpgv gives it (VALIDSIG's last field,
    so a subkey signature maps to its primary key); `key_id` is the long key id or issuer
    fingerprint gpgv names otherwise.
    """

    outcome: Outcome
    fingerprint: str | None = None
    key_id: str | None = None
    detail: str = ""


def verify_detached(
    message: bytes, signature: bytes, keys: Sequence[bytes], *, gpgv: str = "gpgv"
) -> GpgvResult:
    """Run gpgv on one detached signature over `message` against only `keys` (binary)."""
    if len(signature) > MAX_SIGNATURE_BYTES:
        return GpgvResult(Outcome.ERROR, detail=f"too large ({len(signature)} bytes)")
    if shutil.which(gpgv) is None:
        return GpgvResult(Outcome.ERROR, detail="gpgv is not installed on this station")
    with tempfile.TemporaryDirectory(prefix="station-gpgv-") as home:
        root = Path(home).resolve()
        keyring = root / "trusted.gpg"
        keyring.write_bytes(b"".join(keys))
        sig_path = root / "manifest.sig"
        sig_path.write_bytes(signature)
        data_path = root / "manifest"
        data_path.write_bytes(message)
        args = [
            gpgv,
            "--homedir",
            str(root),
            "--keyring",
            str(keyring),
            "--status-fd",
            "1",
            "--",
            str(sig_path),
            str(data_path),
        ]
        try:
            result = _run(args, b"", str(root), "gpgv")
        except OpenPGPError as exc:
            return GpgvResult(Outcome.ERROR, detail=exc.message)
    return parse_status(
        result.stdout.decode("utf-8", "replace"), result.returncode, _stderr_line(result)
    )


def parse_status(status: str, returncode: int, stderr: str = "") -> GpgvResult:
    """Turn gpgv's status lines into one result; anything short of a clean GOODSIG+VALIDSIG
    with exit status 0 is not good."""
    records: list[list[str]] = [
        line[len(_STATUS) :].split(" ") for line in status.splitlines() if line.startswith(_STATUS)
    ]
    by_name: dict[str, list[str]] = {}
    for record in records:
        by_name.setdefault(record[0], record[1:])
    signatures = sum(1 for record in records if record[0] == "NEWSIG")
    if signatures > 1:
        return GpgvResult(
            Outcome.ERROR,
            detail=f"the file holds {signatures} signatures; one signature per file is accepted",
        )
    for name, outcome in (
        ("BADSIG", Outcome.BAD),
        ("REVKEYSIG", Outcome.REVOKED_KEY),
        ("EXPKEYSIG", Outcome.EXPIRED_KEY),
        ("EXPSIG", Outcome.EXPIRED_SIGNATURE),
    ):
        if name in by_name:
            fields = by_name[name]
            return GpgvResult(
                outcome,
                fingerprint=_primary(by_name.get("VALIDSIG")),
                key_id=fields[0].upper() if fields else None,
            )
    if "ERRSIG" in by_name or "NO_PUBKEY" in by_name:
        fields = by_name.get("ERRSIG", [])
        key_id = fields[0].upper() if fields else None
        issuer = fields[6].upper() if len(fields) > 6 and fields[6] not in ("", "-") else None
        if "NO_PUBKEY" in by_name or (len(fields) > 5 and fields[5] == "9"):
            return GpgvResult(Outcome.NO_PUBKEY, fingerprint=issuer, key_id=key_id)
        return GpgvResult(
            Outcome.ERROR,
            fingerprint=issuer,
            key_id=key_id,
            detail="gpgv cannot check it (unsupported algorithm or damaged signature)",
        )
    good = by_name.get("GOODSIG")
    valid = by_name.get("VALIDSIG")
    if returncode == 0 and good is not None and valid is not None and len(valid) >= 9:
        if valid[8] not in _DOCUMENT_CLASSES:
            return GpgvResult(
                Outcome.ERROR, detail=f"signature class {valid[8]} does not sign a document"
            )
        weak = _WEAK_HASHES.get(valid[7])
        if weak is not None:
            return GpgvResult(
                Outcome.ERROR,
                fingerprint=_primary(valid),
                detail=f"the signature uses {weak}, which is broken for signatures; the signer "
                "must sign with SHA-256 or stronger",
            )
        return GpgvResult(Outcome.GOOD, fingerprint=_primary(valid), key_id=good[0].upper())
    if signatures == 0:
        return GpgvResult(Outcome.ERROR, detail=f"not an OpenPGP signature ({stderr})")
    return GpgvResult(Outcome.ERROR, detail=f"gpgv did not accept it ({stderr})")


# OpenPGP hash algorithm ids (RFC 4880 9.4) that no longer protect a signature.
_WEAK_HASHES = {"1": "MD5", "2": "SHA-1", "3": "RIPEMD-160"}


def _primary(validsig: list[str] | None) -> str | None:
    """The primary key fingerprint: VALIDSIG's last field when present, else its first."""
    if not validsig:
        return None
    return (validsig[9] if len(validsig) > 9 else validsig[0]).upper()
