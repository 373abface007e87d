"""SSH signatures (`ssh-keygen -Y sign -f KEY -n file FILE`), verified in-process.

The format is OpenSSH's PROTOCOL.sshsig: an armored blob holding the signer's public key, a
namespace, the hash algorithm and an SSH signature over

    "SSHSIG" || string(namespace) || string(reserved) || string(hash_alg) || string(H(message))

Accepted keys: ssh-ed25519, ecdsa-sha2-nistp256/384/521 and RSA with rsa-sha2-256/512 (not
SHA-1 `ssh-rsa` signatures, not FIDO `sk-*` keys or certificates). The namespace must be the one
the station expects (`file` by default), so a signature made for git or for another purpose
cannot be replayed over a manifest. Fingerprints are OpenSSH's `SHA256:...` form, what
`ssh-keygen -l` prints.

In the trust store an SSH key is `NAME.ssh.pub` (one OpenSSH public key line);
`parse_allowed_signers` reads `allowed_signers` files for tools that want them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils

from station.bundle.model import SignatureFile
from station.errors import StationError

if TYPE_CHECKING:
    from station.verify.signatures import SignatureCheck
    from station.verify.trust import TrustedKey, TrustStore

SCHEME = "ssh"
KEY_SUFFIX = ".ssh.pub"
DEFAULT_NAMESPACE = "file"
ARMOR_BEGIN = b"-----BEGIN SSH SIGNATURE-----"
ARMOR_END = b"-----END SSH SIGNATURE-----"
MAGIC = b"SSHSIG"
MAX_SIGNATURE_BYTES = 64 * 1024
_HASHES = {"sha256": hashlib.sha256, "sha512": hashlib.sha512}
_CURVES: dict[str, tuple[str, ec.EllipticCurve, hashes.HashAlgorithm]] = {
    "ecdsa-sha2-nistp256": ("nistp256", ec.SECP256R1(), hashes.SHA256()),
    "ecdsa-sha2-nistp384": ("nistp384", ec.SECP384R1(), hashes.SHA384()),
    "ecdsa-sha2-nistp521": ("nistp521", ec.SECP521R1(), hashes.SHA512()),
}
_RSA_SIGNATURES: dict[str, hashes.HashAlgorithm] = {
    "rsa-sha2-256": hashes.SHA256(),
    "rsa-sha2-512": hashes.SHA512(),
}
_KEY_TYPES = ("ssh-ed25519", "ssh-rsa", *_CURVES)


class SSHSigError(StationError):
    """An SSH signature or public key cannot be read."""


@dataclass(frozen=True)
class SSHSignature:
    """A parsed SSHSIG blob (nothing verified yet)."""

    public_key: bytes
    namespace: str
    hash_algorithm: str
    signature: bytes
    reserved: bytes = b""


@dataclass(frozen=True)
class SSHSigResult:
    """The outcome of one check: `signer` is the key's `SHA256:` fingerprint when it holds."""

    valid: bool
    signer: str | None
    reason: str


class _Reader:
    """SSH wire format: uint32 big-endian lengths before strings, bounds always checked."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, count: int) -> bytes:
        if count < 0 or self.pos + count > len(self.data):
            raise SSHSigError("truncated SSH data")
        chunk = self.data[self.pos : self.pos + count]
        self.pos += count
        return chunk

    def uint32(self) -> int:
        value: int = struct.unpack(">I", self.take(4))[0]
        return value

    def string(self) -> bytes:
        return self.take(self.uint32())

    def text(self) -> str:
        try:
            return self.string().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SSHSigError("a name in the SSH data is not UTF-8") from exc

    def mpint(self) -> int:
        return int.from_bytes(self.string(), "big", signed=True)

    def end(self) -> None:
        if self.pos != len(self.data):
            raise SSHSigError("unexpected bytes after the SSH data")


def _string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def fingerprint(key_blob: bytes) -> str:
    """OpenSSH's `SHA256:` fingerprint of a public key blob."""
    digest = base64.b64encode(hashlib.sha256(key_blob).digest()).decode("ascii")
    return "SHA256:" + digest.rstrip("=")


def parse_signature(data: bytes) -> SSHSignature:
    """Read an armored `-----BEGIN SSH SIGNATURE-----` file."""
    if len(data) > MAX_SIGNATURE_BYTES:
        raise SSHSigError(f"larger than {MAX_SIGNATURE_BYTES} bytes; not an SSH signature")
    text = data.strip()
    if not text.startswith(ARMOR_BEGIN) or not text.endswith(ARMOR_END):
        raise SSHSigError("not an armored SSH signature")
    body = b"".join(text[len(ARMOR_BEGIN) : -len(ARMOR_END)].split())
    try:
        blob = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SSHSigError("the armored SSH signature is not valid base64") from exc
    reader = _Reader(blob)
    if reader.take(len(MAGIC)) != MAGIC:
        raise SSHSigError("not an SSHSIG blob (wrong magic)")
    version = reader.uint32()
    if version != 1:
        raise SSHSigError(f"SSHSIG version {version} is not supported (only 1)")
    public_key = reader.string()
    namespace = reader.text()
    reserved = reader.string()
    hash_algorithm = reader.text()
    signature = reader.string()
    reader.end()
    return SSHSignature(public_key, namespace, hash_algorithm, signature, reserved)


def looks_like_signature(data: bytes) -> bool:
    return data.lstrip().startswith(ARMOR_BEGIN)


def parse_public_key(line: bytes) -> bytes:
    """The key blob of an OpenSSH public key line (`ssh-ed25519 AAAA... comment`)."""
    fields = line.strip().split()
    if len(fields) < 2:
        raise SSHSigError("not an OpenSSH public key line (`TYPE BASE64 [comment]`)")
    key_type = fields[0].decode("ascii", "replace")
    if key_type not in _KEY_TYPES:
        raise SSHSigError(f"SSH key type {key_type!r} is not supported")
    try:
        blob = base64.b64decode(fields[1], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SSHSigError("the SSH public key is not valid base64") from exc
    if _Reader(blob).text() != key_type:
        raise SSHSigError("the SSH public key's type does not match its data")
    _load_key(blob)  # fails on a malformed key now, not at verification time
    return blob


def _load_key(
    blob: bytes,
) -> ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey | rsa.RSAPublicKey:
    reader = _Reader(blob)
    key_type = reader.text()
    try:
        if key_type == "ssh-ed25519":
            raw = reader.string()
            reader.end()
            return ed25519.Ed25519PublicKey.from_public_bytes(raw)
        if key_type in _CURVES:
            curve_name, curve, _ = _CURVES[key_type]
            if reader.text() != curve_name:
                raise SSHSigError("the ECDSA key's curve does not match its type")
            point = reader.string()
            reader.end()
            return ec.EllipticCurvePublicKey.from_encoded_point(curve, point)
        if key_type == "ssh-rsa":
            e, n = reader.mpint(), reader.mpint()
            reader.end()
            if n.bit_length() < 2048:
                raise SSHSigError(f"RSA key of {n.bit_length()} bits; at least 2048 are needed")
            return rsa.RSAPublicNumbers(e, n).public_key()
    except ValueError as exc:
        raise SSHSigError(f"malformed {key_type} public key ({exc})") from exc
    raise SSHSigError(f"SSH key type {key_type!r} is not supported")


def _signed_data(sig: SSHSignature, message: bytes) -> bytes:
    digest = _HASHES[sig.hash_algorithm](message).digest()
    return (
        MAGIC
        + _string(sig.namespace.encode("utf-8"))
        + _string(sig.reserved)
        + _string(sig.hash_algorithm.encode("ascii"))
        + _string(digest)
    )


def _check(sig: SSHSignature, key_blob: bytes, data: bytes) -> None:
    """Raise InvalidSignature or SSHSigError unless the SSH signature holds over `data`."""
    key = _load_key(key_blob)
    reader = _Reader(sig.signature)
    sig_type = reader.text()
    blob = reader.string()
    reader.end()
    if isinstance(key, ed25519.Ed25519PublicKey):
        if sig_type != "ssh-ed25519":
            raise SSHSigError(f"signature type {sig_type!r} does not fit an ed25519 key")
        key.verify(blob, data)
    elif isinstance(key, ec.EllipticCurvePublicKey):
        key_type = _Reader(key_blob).text()
        if sig_type != key_type:
            raise SSHSigError(f"signature type {sig_type!r} does not fit a {key_type} key")
        parts = _Reader(blob)
        r, s = parts.mpint(), parts.mpint()
        parts.end()
        key.verify(utils.encode_dss_signature(r, s), data, ec.ECDSA(_CURVES[key_type][2]))
    else:
        if sig_type not in _RSA_SIGNATURES:
            raise SSHSigError(f"RSA signature type {sig_type!r} is refused (SHA-1 or unknown)")
        key.verify(blob, data, padding.PKCS1v15(), _RSA_SIGNATURES[sig_type])


def verify(
    message: bytes,
    signature: bytes,
    public_key: bytes,
    *,
    namespace: str = DEFAULT_NAMESPACE,
) -> SSHSigResult:
    """Check an armored SSH signature over `message` with one OpenSSH public key line (or
    key blob); the signature must name that key and `namespace`. Never raises."""
    try:
        sig = parse_signature(signature)
        blob = public_key if public_key[:3] == b"\0\0\0" else parse_public_key(public_key)
        return _verify_parsed(message, sig, blob, namespace)
    except SSHSigError as exc:
        return SSHSigResult(False, None, exc.message)


def _verify_parsed(message: bytes, sig: SSHSignature, blob: bytes, namespace: str) -> SSHSigResult:
    fpr = fingerprint(blob)
    if sig.public_key != blob:
        return SSHSigResult(
            False, None, f"signed by SSH key {fingerprint(sig.public_key)}, not by {fpr}"
        )
    if sig.namespace != namespace:
        return SSHSigResult(
            False, None, f"signature namespace is {sig.namespace!r}, the station needs "
            f"{namespace!r} (a signature made for another purpose)"
        )
    if sig.hash_algorithm not in _HASHES:
        return SSHSigResult(False, None, f"hash algorithm {sig.hash_algorithm!r} is refused")
    try:
        _check(sig, blob, _signed_data(sig, message))
    except InvalidSignature:
        return SSHSigResult(False, None, f"bad signature: it does not match key {fpr}")
    except SSHSigError as exc:
        return SSHSigResult(False, None, exc.message)
    return SSHSigResult(True, fpr, f"good signature by SSH key {fpr}")


# -- allowed_signers ------------------------------------------------------------------------


@dataclass(frozen=True)
class AllowedSigner:
    """One line of an `allowed_signers` file (see ssh-keygen(1), ALLOWED SIGNERS)."""

    principals: tuple[str, ...]
    key: bytes
    namespaces: tuple[str, ...] | None = None
    valid_after: str | None = None
    valid_before: str | None = None

    def allows(self, namespace: str) -> bool:
        return self.namespaces is None or namespace in self.namespaces


def _tokens(line: str, separators: str, *, keep_quotes: bool = False) -> list[str]:
    """Split at separators outside double quotes; quotes removed unless `keep_quotes` (for a
    first split whose parts are split again), `\\"` inside quotes kept as `"`."""
    tokens: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for ch in line:
        if escaped:
            current.append(ch)
            escaped = False
        elif ch == "\\" and quoted:
            escaped = True
            if keep_quotes:
                current.append(ch)
        elif ch == '"':
            quoted = not quoted
            if keep_quotes:
                current.append(ch)
        elif ch in separators and not quoted:
            if current:
                tokens.append("".join(current))
            current = []
        else:
            current.append(ch)
    if quoted:
        raise SSHSigError("unbalanced quotes")
    if current:
        tokens.append("".join(current))
    return tokens


def parse_allowed_signers(text: str) -> list[AllowedSigner]:
    """Lines `principals [options] keytype base64 [comment]`; `cert-authority` is refused."""
    signers: list[AllowedSigner] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"allowed_signers line {number}"
        try:
            fields = _tokens(line, " \t", keep_quotes=True)
            if len(fields) < 3:
                raise SSHSigError("too few fields")
            principals = tuple(_tokens(fields[0], ","))
            options: dict[str, str] = {}
            rest = fields[1:]
            if rest[0] not in _KEY_TYPES:
                for option in _tokens(rest[0], ","):
                    name, _, value = option.partition("=")
                    options[name.lower()] = value
                rest = rest[1:]
            if "cert-authority" in options:
                raise SSHSigError("cert-authority is not supported")
            if len(rest) < 2:
                raise SSHSigError("no public key")
            key = parse_public_key(f"{rest[0]} {rest[1]}".encode("ascii", "replace"))
        except SSHSigError as exc:
            raise SSHSigError(f"{where}: {exc.message}") from exc
        namespaces = options.get("namespaces")
        signers.append(
            AllowedSigner(
                principals=principals,
                key=key,
                namespaces=tuple(namespaces.split(",")) if namespaces is not None else None,
                valid_after=options.get("valid-after"),
                valid_before=options.get("valid-before"),
            )
        )
    return signers


# -- the station's interfaces (trust store loader, signature verifier) ----------------------


def trusted_key(path: Path, data: bytes) -> TrustedKey:
    """A trust-store entry for `NAME.ssh.pub` (the first key line in the file)."""
    from station.verify.trust import TrustedKey

    lines = [ln for ln in data.splitlines() if ln.strip() and not ln.lstrip().startswith(b"#")]
    if len(lines) != 1:
        raise SSHSigError("an .ssh.pub file must hold exactly one public key line")
    blob = parse_public_key(lines[0])
    comment = b" ".join(lines[0].split()[2:]).decode("utf-8", "replace")
    return TrustedKey(
        name=path.name[: -len(KEY_SUFFIX)],
        scheme=SCHEME,
        fingerprint=fingerprint(blob),
        path=path,
        data=blob,
        description=comment or _Reader(blob).text(),
    )


class SSHSigVerifier:
    """`SignatureVerifier` for armored SSH signatures, namespace `file`."""

    scheme = SCHEME

    def __init__(self, namespace: str = DEFAULT_NAMESPACE) -> None:
        self.namespace = namespace

    def recognises(self, signature: SignatureFile) -> bool:
        return looks_like_signature(signature.data)

    def check(self, manifest: bytes, signature: SignatureFile, trust: TrustStore) -> SignatureCheck:
        from station.verify.signatures import SignatureCheck

        try:
            sig = parse_signature(signature.data)
        except SSHSigError as exc:
            reason = f"not a valid SSH signature: {exc.message}"
            return SignatureCheck(signature.name, SCHEME, False, None, None, reason)
        fpr = fingerprint(sig.public_key)
        key = next((k for k in trust.of_scheme(SCHEME) if k.data == sig.public_key), None)
        if key is None:
            reason = f"signed by SSH key {fpr} which is not in the trust store"
            return SignatureCheck(signature.name, SCHEME, False, None, fpr, reason)
        result = _verify_parsed(manifest, sig, key.data, self.namespace)
        label = f"{key.name} (SSH key {fpr})"
        if result.valid:
            return SignatureCheck(
                signature.name, SCHEME, True, key.name, fpr, f"good signature by {label}"
            )
        reason = f"signature by {label} refused: {result.reason}"
        return SignatureCheck(signature.name, SCHEME, False, key.name, fpr, reason)
