"""Detached signatures over a bundle's manifest: one interface, one verifier per scheme.

`check_signatures` gives one `SignatureCheck` per signature file, in the order given. The
scheme is decided by the file's content, not its name (a `.sig` may be OpenPGP or, later,
cosign). A check is `valid` only when the signature verifies over the exact manifest bytes with
a key in the trust store; every other outcome (unknown key, bad signature, unreadable file,
missing tool, unexpected error) is an invalid check whose `reason` says why in plain words.
Whether the bundle is then accepted is the policy's decision, not this module's.

A new scheme (cosign, ssh) is one class with `scheme`, `recognises` and `check`, added with
`register_verifier`; the existing verifiers stay untouched.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from station.bundle.model import SignatureFile
from station.errors import StationError
from station.verify import minisign, openpgp
from station.verify.trust import TrustedKey, TrustStore

UNKNOWN_SCHEME = "unknown"


@dataclass(frozen=True)
class SignatureCheck:
    """The verdict on one signature file, with the signer's trust-store name when known."""

    file: str
    scheme: str
    valid: bool
    signer: str | None
    fingerprint: str | None
    reason: str

    def to_json(self) -> dict[str, object]:
        return {
            "file": self.file,
            "scheme": self.scheme,
            "valid": self.valid,
            "signer": self.signer,
            "fingerprint": self.fingerprint,
            "reason": self.reason,
        }


class SignatureVerifier(Protocol):
    """One signature scheme: recognise its files by content, then check one over a manifest."""

    @property
    def scheme(self) -> str: ...

    def recognises(self, signature: SignatureFile) -> bool: ...

    def check(
        self, manifest: bytes, signature: SignatureFile, trust: TrustStore
    ) -> SignatureCheck: ...


class MinisignVerifier:
    """minisign signatures (legacy and prehashed), checked in-process against `*.pub` keys."""

    scheme = minisign.SCHEME

    def recognises(self, signature: SignatureFile) -> bool:
        return signature.data.startswith(minisign.UNTRUSTED_PREFIX)

    def check(self, manifest: bytes, signature: SignatureFile, trust: TrustStore) -> SignatureCheck:
        def result(valid: bool, key: TrustedKey | None, fp: str | None, why: str) -> SignatureCheck:
            signer = key.name if key else None
            return SignatureCheck(signature.name, self.scheme, valid, signer, fp, why)

        try:
            parsed = minisign.parse_signature(signature.data)
        except minisign.MinisignError as exc:
            return result(False, None, None, f"not a valid minisign signature: {exc.message}")
        fingerprint = parsed.key_fingerprint
        key = trust.find(self.scheme, fingerprint)
        if key is None:
            return result(
                False,
                None,
                fingerprint,
                f"signed by minisign key {fingerprint} which is not in the trust store",
            )
        label = f"{key.name} (minisign key {fingerprint})"
        try:
            minisign.verify(manifest, parsed, minisign.PublicKey.from_blob(key.data))
        except minisign.MinisignError as exc:
            return result(False, key, fingerprint, f"bad signature by {label}: {exc.message}")
        return result(True, key, fingerprint, f"good signature by {label}")


class OpenPGPVerifier:
    """OpenPGP detached signatures (armored or binary), checked by gpgv against the trust
    store's OpenPGP keys only."""

    scheme = openpgp.SCHEME

    def recognises(self, signature: SignatureFile) -> bool:
        return openpgp.looks_like_signature(signature.data)

    def check(self, manifest: bytes, signature: SignatureFile, trust: TrustStore) -> SignatureCheck:
        keys = trust.of_scheme(self.scheme)
        found = openpgp.verify_detached(manifest, signature.data, [key.data for key in keys])
        claimed = found.fingerprint or found.key_id
        key = _openpgp_key(keys, found.fingerprint, found.key_id)
        label = f"{key.name} (OpenPGP key {key.fingerprint})" if key else f"OpenPGP key {claimed}"
        fingerprint = key.fingerprint if key else claimed
        outcome = openpgp.Outcome
        valid = False
        if found.outcome is outcome.GOOD and key is not None:
            valid, reason = True, f"good signature by {label}"
        elif found.outcome is outcome.GOOD:
            reason = f"gpgv accepted a key that is not in the trust store ({claimed})"
        elif found.outcome is outcome.BAD:
            reason = f"bad signature by {label}: it does not match the manifest"
        elif found.outcome is outcome.NO_PUBKEY:
            reason = f"signed by OpenPGP key {claimed} which is not in the trust store"
        elif found.outcome is outcome.EXPIRED_KEY:
            reason = f"signed by {label}, but that key has expired"
        elif found.outcome is outcome.REVOKED_KEY:
            reason = f"signed by {label}, but that key has been revoked"
        elif found.outcome is outcome.EXPIRED_SIGNATURE:
            reason = f"the signature by {label} has expired"
        else:
            reason = found.detail or "gpgv could not check the signature"
        signer = key.name if key else None
        return SignatureCheck(signature.name, self.scheme, valid, signer, fingerprint, reason)


def _openpgp_key(
    keys: Sequence[TrustedKey], fingerprint: str | None, key_id: str | None
) -> TrustedKey | None:
    """The trusted key gpgv named: by primary fingerprint, else by (sub)key id suffix."""
    for key in keys:
        if fingerprint and fingerprint in (key.fingerprint, *key.subkeys):
            return key
    if fingerprint is None and key_id and len(key_id) >= 16:
        for key in keys:
            if any(fpr.endswith(key_id) for fpr in (key.fingerprint, *key.subkeys)):
                return key
    return None


class _LoadedOnUse:
    """A verifier whose module (and its cryptography imports) loads the first time a
    signature file reaches it, so `station verify` of a minisign bundle starts faster."""

    def __init__(self, scheme: str, module: str, name: str) -> None:
        self.scheme = scheme
        self._module = module
        self._name = name
        self._verifier: SignatureVerifier | None = None

    def _load(self) -> SignatureVerifier:
        if self._verifier is None:
            verifier: SignatureVerifier = getattr(
                importlib.import_module(self._module), self._name
            )()
            self._verifier = verifier
        return self._verifier

    def recognises(self, signature: SignatureFile) -> bool:
        return self._load().recognises(signature)

    def check(self, manifest: bytes, signature: SignatureFile, trust: TrustStore) -> SignatureCheck:
        return self._load().check(manifest, signature, trust)


_VERIFIERS: list[SignatureVerifier] = [
    MinisignVerifier(),
    OpenPGPVerifier(),
    _LoadedOnUse("ssh", "station.verify.sshsig", "SSHSigVerifier"),
    _LoadedOnUse("cosign", "station.verify.cosign", "CosignVerifier"),
]


def register_verifier(verifier: SignatureVerifier) -> None:
    """Add a scheme, or replace the verifier of a scheme with the same name."""
    _VERIFIERS[:] = [v for v in _VERIFIERS if v.scheme != verifier.scheme]
    _VERIFIERS.append(verifier)


def verifiers() -> tuple[SignatureVerifier, ...]:
    return tuple(_VERIFIERS)


def check_signatures(
    manifest: bytes, signatures: Sequence[SignatureFile], trust: TrustStore
) -> list[SignatureCheck]:
    """Check every detached signature over the manifest's exact bytes; never raises for a
    hostile signature file, and never reports valid unless a trusted key verified it."""
    return [_check_one(manifest, signature, trust) for signature in signatures]


def _check_one(manifest: bytes, signature: SignatureFile, trust: TrustStore) -> SignatureCheck:
    verifier = next((v for v in _VERIFIERS if v.recognises(signature)), None)
    if verifier is None:
        known = ", ".join(v.scheme for v in _VERIFIERS)
        return SignatureCheck(
            signature.name,
            UNKNOWN_SCHEME,
            False,
            None,
            None,
            f"not a signature this station can read (known: {known})",
        )
    try:
        return verifier.check(manifest, signature, trust)
    except StationError as exc:
        reason = exc.message
    except Exception as exc:  # a verifier bug must reject, never accept or crash the run
        reason = f"internal error while checking: {type(exc).__name__}: {exc}"
    return SignatureCheck(signature.name, verifier.scheme, False, None, None, reason)
