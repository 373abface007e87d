"""PIN and passphrase hashing: scrypt, with its parameters stored beside the hash.

A secret is kept only as `scrypt$n=..,r=..,p=..$salt$hash`, so the parameters can be raised
later without invalidating existing accounts. Comparisons are constant-time.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets

MIN_SECRET_LENGTH = 6
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
_SCRYPT_MAXMEM = 256 * 1024 * 1024


def hash_secret(secret: str, *, n: int = _SCRYPT_N, r: int = _SCRYPT_R, p: int = _SCRYPT_P) -> str:
    """`scrypt$n=..,r=..,p=..$salt$hash` (base64): the parameters travel with the hash."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        secret.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=_SCRYPT_MAXMEM, dklen=32
    )
    return f"scrypt$n={n},r={r},p={p}${_b64(salt)}${_b64(digest)}"


def check_secret(secret: str, encoded: str) -> bool:
    """Constant-time comparison against a stored hash; a malformed hash never matches."""
    try:
        scheme, params, salt_text, hash_text = encoded.split("$")
        values = dict(item.split("=", 1) for item in params.split(","))
        n, r, p = int(values["n"]), int(values["r"]), int(values["p"])
        salt, expected = _unb64(salt_text), _unb64(hash_text)
    except (ValueError, KeyError):
        return False
    if scheme != "scrypt" or not expected:
        return False
    try:
        digest = hashlib.scrypt(
            secret.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=_SCRYPT_MAXMEM,
            dklen=len(expected),
        )
    except (ValueError, MemoryError):  # parameters out of range: never a match
        return False
    return hmac.compare_digest(digest, expected)


_CAPS_LOCK = str.maketrans(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
)


def secret_matches(secret: str, encoded: str) -> bool:
    """The secret as typed, or as typed with Caps Lock on (ASCII letters' case inverted).

    A kiosk keyboard gives no Caps Lock light to the software, and a PIN refused for it
    locks accounts for nothing. The price is two candidates per try (5 tries, 10 guesses);
    both are always hashed when the first fails, so the time taken tells nothing.
    """
    if check_secret(secret, encoded):
        return True
    inverted = secret.translate(_CAPS_LOCK)
    return check_secret(inverted, encoded) and inverted != secret


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


@functools.cache
def dummy_hash() -> str:
    """Compared against when the account does not exist, so that the answer takes as long
    as for a real account and does not tell which names exist (made once, when first needed,
    not at every CLI start)."""
    return hash_secret(secrets.token_hex(16))


