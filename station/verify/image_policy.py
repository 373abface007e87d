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

Both tables are checked by the station's typed configuration model (`station.config`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from station.bundle.model import Finding
from station.errors import StationError
from station.references import normalise_prefix

if TYPE_CHECKING:
    from station.config import IdentitySection, ImageRuleSection
    from station.verify.image_signatures import ImageSignatureCheck
    from station.verify.staged import StagedBundle

IDENTITY_PREFIX = "identity:"


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
    def from_sections(
        cls,
        images: Mapping[str, ImageRuleSection],
        identities: Mapping[str, IdentitySection],
        where: str,
    ) -> ImageSignaturePolicy:
        """Both tables as the configuration model checked them; an `identity:NAME` entry
        must name a `[policy.identities.NAME]` table."""
        parsed = {name: IdentityRule(rule.issuer, rule.subject)
                  for name, rule in identities.items()}
        rules = []
        for prefix, rule in images.items():
            for name in rule.require_signature:
                wanted = name.removeprefix(IDENTITY_PREFIX)
                if name.startswith(IDENTITY_PREFIX) and wanted not in parsed:
                    raise StationError(
                        f'{where}: [policy.images."{prefix}"] require_signature names '
                        f"{name!r}, but there is no [policy.identities.{wanted}] table"
                    )
            rules.append(ImageRule(normalise_prefix(prefix), rule.require_signature))
        return cls(tuple(rules), parsed)

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
