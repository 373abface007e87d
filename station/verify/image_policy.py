"""Which images must carry signatures, and by whom: `[policy.images."PREFIX"]`.

    [policy.images."registry.example.org/acme/"]
    require_signature = ["acme-release", "identity:acme-ci"]

    [policy.identities.acme-ci]               # a keyless signer, by its certificate
    issuer = "https://token.actions.githubusercontent.com"
    subject = "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main"

Every image whose reference falls under a prefix (the longest matching prefix wins) must
carry, for each entry of `require_signature`, a valid attached signature: `NAME` is a
trust-store key (cosign key pair or a key-signed Sigstore bundle), `identity:NAME` a keyless
Sigstore signer whose certificate names exactly that issuer and subject. A missing entry is
a problem (`image-signature-required`) naming what was found instead. Images outside every
prefix need no signature; their signatures are still checked and shown.

This table is parsed here and nowhere else, so it can move whole into the station's typed
configuration model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from station.bundle.model import Finding
from station.errors import StationError
from station.references import normalise_prefix

if TYPE_CHECKING:
    from station.verify.image_signatures import ImageSignatureCheck
    from station.verify.staged import StagedBundle

IDENTITY_PREFIX = "identity:"
_RULE_KEYS = frozenset({"require_signature"})
_IDENTITY_KEYS = frozenset({"issuer", "subject"})


@dataclass(frozen=True)
class IdentityRule:
    """A keyless signer the site trusts: exact OIDC issuer and certificate subject."""

    issuer: str
    subject: str


@dataclass(frozen=True)
class ImageRule:
    prefix: str
    require_signature: tuple[str, ...]


@dataclass(frozen=True)
class ImageSignaturePolicy:
    """The parsed `[policy.images]` and `[policy.identities]` tables (empty: no rule)."""

    rules: tuple[ImageRule, ...] = ()
    identities: Mapping[str, IdentityRule] = field(default_factory=dict)

    @classmethod
    def from_tables(cls, images: Any, identities: Any, where: str) -> ImageSignaturePolicy:
        """Parse both tables; anything unknown or of the wrong type is a StationError."""
        parsed_identities = {
            name: _identity(raw, f"{where}.identities.{name}]")
            for name, raw in _table(identities, f"{where}.identities]").items()
        }
        rules = []
        for prefix, raw in _table(images, f"{where}.images]").items():
            shown = f'{where}.images."{prefix}"]'
            rule = _table(raw, shown)
            unknown = set(rule) - _RULE_KEYS
            if unknown:
                raise StationError(f"{shown}: unknown keys {', '.join(sorted(unknown))}",
                                   hint=f"known keys: {', '.join(sorted(_RULE_KEYS))}")
            required = rule.get("require_signature", [])
            if not isinstance(required, list) or not all(
                isinstance(name, str) and name for name in required
            ):
                raise StationError(f"{shown} require_signature must be a list of key names "
                                   "and identity:NAME entries")
            for name in required:
                wanted = name.removeprefix(IDENTITY_PREFIX)
                if name.startswith(IDENTITY_PREFIX) and wanted not in parsed_identities:
                    raise StationError(f"{shown} names {name!r}, but there is no "
                                       f"[policy.identities.{wanted}] table")
            if not prefix or prefix.strip() != prefix:
                raise StationError(f"{shown}: the prefix must be a non-empty reference prefix")
            rules.append(ImageRule(normalise_prefix(prefix), tuple(required)))
        return cls(tuple(rules), parsed_identities)

    def rule_for(self, references: Sequence[str]) -> ImageRule | None:
        """The most specific rule covering any of an image's references."""
        from station.verify.policy import matches_prefix

        matching = [rule for rule in self.rules
                    if any(matches_prefix(ref, rule.prefix) for ref in references)]
        return max(matching, key=lambda rule: len(rule.prefix)) if matching else None

    def satisfies(self, check: ImageSignatureCheck, wanted: str) -> bool:
        if not check.valid:
            return False
        if wanted.startswith(IDENTITY_PREFIX):
            identity = self.identities.get(wanted.removeprefix(IDENTITY_PREFIX))
            return identity is not None and check.identity is not None and (
                check.identity.issuer, check.identity.subject) == (identity.issuer,
                                                                   identity.subject)
        return check.signer == wanted

    def findings(self, staged: StagedBundle) -> list[Finding]:
        """A problem for every required signature an image lacks."""
        problems: list[Finding] = []
        for image in staged.images:
            rule = self.rule_for(image.references)
            if rule is None:
                continue
            digests = {image.descriptor.digest, *(i.manifest_digest for i in image.images)}
            checks = [c for c in staged.image_signatures if c.image in digests]
            name = image.references[0] if image.references else image.descriptor.digest
            for wanted in rule.require_signature:
                if any(self.satisfies(check, wanted) for check in checks):
                    continue
                found = "; ".join(f"{c.who}: {c.reason}" for c in checks) or "no signature"
                problems.append(Finding(
                    "image-signature-required",
                    f"image {name} must be signed by {wanted} (policy prefix {rule.prefix}); "
                    f"found: {found}",
                    image.item,
                ))
        return problems


def _table(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise StationError(f"{where} must be a table")
    return value


def _identity(raw: Any, where: str) -> IdentityRule:
    table = _table(raw, where)
    unknown = set(table) - _IDENTITY_KEYS
    missing = _IDENTITY_KEYS - set(table)
    if unknown or missing:
        raise StationError(f"{where} needs exactly issuer and subject",
                           hint="issuer is the OIDC issuer URL, subject the certificate's "
                           "e-mail or URI")
    if not all(isinstance(table[key], str) and table[key] for key in _IDENTITY_KEYS):
        raise StationError(f"{where} issuer and subject must be non-empty strings")
    return IdentityRule(table["issuer"], table["subject"])
