"""The station's trust store: a folder of public keys, one signer per file.

`*.pub` files are minisign public keys, `*.asc` and `*.gpg` OpenPGP public keys (armored or
binary, whatever the suffix says). A key's name is its file name without the extension; that
name is what operators see as the signer. A file that cannot be read as a key is never trusted:
it becomes a `problems` entry that names it, and loading carries on with the others. Links and
anything that is not a regular file are refused, so the folder's contents are exactly what an
administrator put there.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from station.bundle.model import Finding
from station.bundle.safety import describe_name, read_media_file
from station.errors import StationError, UnsafePathError
from station.verify import minisign, openpgp

MAX_KEY_FILE_BYTES = 1024 * 1024
PROBLEM_CODE = "trust-key"


@dataclass(frozen=True)
class TrustedKey:
    """One public key the station trusts.

    `fingerprint` is what users compare: for minisign the key id as minisign prints it (16
    upper-case hex digits), for OpenPGP the 40-hex primary key fingerprint. `data` is what the
    verifier needs: minisign's 42-byte key blob, or the binary OpenPGP key. `subkeys` are the
    OpenPGP subkey fingerprints (a signature by a subkey belongs to this key).
    """

    name: str
    scheme: str
    fingerprint: str
    path: Path
    data: bytes = field(repr=False)
    subkeys: tuple[str, ...] = ()
    description: str = ""

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "scheme": self.scheme,
            "fingerprint": self.fingerprint,
            "path": str(self.path),
            "description": self.description,
        }


@dataclass(frozen=True)
class TrustStore:
    """The trusted keys (sorted by name, scheme, file) and the files that were refused."""

    directory: Path
    keys: tuple[TrustedKey, ...] = ()
    problems: tuple[Finding, ...] = ()

    def of_scheme(self, scheme: str) -> tuple[TrustedKey, ...]:
        return tuple(key for key in self.keys if key.scheme == scheme)

    def find(self, scheme: str, fingerprint: str) -> TrustedKey | None:
        """The trusted key with this fingerprint (or OpenPGP subkey fingerprint), if any."""
        wanted = fingerprint.upper()
        for key in self.of_scheme(scheme):
            if key.fingerprint == wanted or wanted in key.subkeys:
                return key
        return None

    @classmethod
    def load(cls, directory: Path) -> TrustStore:
        """Read every key file in `directory`; a missing folder is an error with a hint."""
        try:
            names = sorted(os.listdir(directory))
        except FileNotFoundError as exc:
            raise StationError(
                f"the trust store {directory} does not exist",
                hint="create it and copy the signers' public keys into it "
                f"({', '.join('NAME' + end for end in KEY_LOADERS)}), "
                "or set [trust] dir in station.toml",
            ) from exc
        except NotADirectoryError as exc:
            raise StationError(
                f"the trust store {directory} is not a folder",
                hint="point [trust] dir in station.toml at the folder of public keys",
            ) from exc
        except OSError as exc:
            raise StationError(
                f"cannot read the trust store {directory}: {exc.strerror or exc}",
                hint="check the folder's permissions",
            ) from exc
        keys: list[TrustedKey] = []
        problems: list[Finding] = []
        for entry in names:
            if entry.startswith("."):
                continue
            path = directory / entry
            try:
                key = _load_key_file(path)
            except StationError as exc:
                why = exc.message
            except (
                Exception
            ) as exc:  # a loader's bug leaves the key untrusted, not the station down
                why = f"cannot be read as a key ({type(exc).__name__}: {exc})"
            else:
                keys.append(key)
                continue
            shown = directory / describe_name(entry)  # names may hold terminal escapes
            problems.append(Finding(PROBLEM_CODE, f"{shown}: {why}", str(path)))
        keys.sort(key=lambda key: (key.name, key.scheme, key.path.name))
        unique, duplicates = _drop_duplicates(keys)
        return cls(directory=directory, keys=tuple(unique), problems=tuple(problems + duplicates))


def _drop_duplicates(keys: list[TrustedKey]) -> tuple[list[TrustedKey], list[Finding]]:
    """The same key in two files keeps its first name, so a signer has exactly one name."""
    seen: dict[tuple[str, str], TrustedKey] = {}
    unique: list[TrustedKey] = []
    problems: list[Finding] = []
    for key in keys:
        first = seen.get((key.scheme, key.fingerprint))
        if first is not None:
            problems.append(
                Finding(
                    PROBLEM_CODE,
                    f"{key.path}: the same key as {first.path.name}; only {first.name!r} is used",
                    str(key.path),
                )
            )
            continue
        seen[(key.scheme, key.fingerprint)] = key
        unique.append(key)
    return unique, problems


def _read_key_file(path: Path) -> bytes:
    """Read a key file with the media's rules: no links, only small regular files."""
    try:
        return read_media_file(path.parent, path.name, max_size=MAX_KEY_FILE_BYTES)
    except UnsafePathError as exc:
        raise StationError(f"refused: {exc.message}") from exc
    except OSError as exc:
        raise StationError(f"cannot read it: {exc.strerror or exc}") from exc


def _minisign_key(path: Path, data: bytes) -> TrustedKey:
    if data.lstrip().startswith(b"-----BEGIN") or data.startswith(b"ssh-"):
        raise StationError("is not a minisign public key (only minisign keys end in .pub)")
    key = minisign.parse_public_key(data)
    comment = data.split(b"\n", 1)[0][len(minisign.UNTRUSTED_PREFIX) :]
    return TrustedKey(
        name=path.stem,
        scheme=minisign.SCHEME,
        fingerprint=key.fingerprint,
        path=path,
        data=key.blob,
        description=comment.decode("utf-8", "replace").strip(),
    )


def _openpgp_key(path: Path, data: bytes) -> TrustedKey:
    key = openpgp.read_public_key(data)
    return TrustedKey(
        name=path.stem,
        scheme=openpgp.SCHEME,
        fingerprint=key.fingerprint,
        path=path,
        data=key.binary,
        subkeys=key.subkeys,
        description=key.user_ids[0] if key.user_ids else "",
    )


def _cosign_key(path: Path, data: bytes) -> TrustedKey:
    from station.verify import cosign  # loaded only when the trust store holds such keys

    return cosign.trusted_key(path, data)


def _ssh_key(path: Path, data: bytes) -> TrustedKey:
    from station.verify import sshsig  # loaded only when the trust store holds such keys

    return sshsig.trusted_key(path, data)


def _sigstore_root(path: Path, data: bytes) -> TrustedKey:
    from station.verify import image_signatures  # loads the sigstore library only then

    return image_signatures.trusted_root(path, data)


KEY_LOADERS: dict[str, Callable[[Path, bytes], TrustedKey]] = {
    ".pub": _minisign_key,
    ".asc": _openpgp_key,
    ".gpg": _openpgp_key,
    ".cosign.pub": _cosign_key,
    ".pem": _cosign_key,
    ".ssh.pub": _ssh_key,
    ".trusted_root.json": _sigstore_root,
}
"""File name ending -> loader. A new scheme adds its ending here (`.ssh.pub`, `.cosign.pub`);
the longest matching ending wins, so `alice.ssh.pub` never reaches the minisign loader. A
loader names the key (the file name without that ending) and raises StationError for a file
it cannot read."""


def _loader_for(name: str) -> Callable[[Path, bytes], TrustedKey] | None:
    lowered = name.lower()
    endings = [end for end in KEY_LOADERS if lowered.endswith(end) and len(lowered) > len(end)]
    return KEY_LOADERS[max(endings, key=len)] if endings else None


def _load_key_file(path: Path) -> TrustedKey:
    if path.name.lower().endswith(".key"):
        raise StationError(
            "looks like a secret key; it is ignored; keep secret keys off the station"
        )
    loader = _loader_for(path.name)
    if loader is None:
        raise StationError(
            f"is not a key file; it is ignored (key files end in {', '.join(KEY_LOADERS)})"
        )
    return loader(path, _read_key_file(path))
