"""Image references as targets need them: split into repository and tag, rewritten by rules.

A retag rule (`{from = "registry.example.org/ops/", to = "mirror.local/ops/"}` in the station
config) rewrites a reference that starts with `from`; the first matching rule wins. `from` is
normalised like references are (`demo/` means `docker.io/demo/`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from station.config import RetagRuleSection
from station.references import normalise_prefix


@dataclass(frozen=True)
class RetagRule:
    """Rewrite references starting with `prefix` to start with `replacement`."""

    prefix: str
    replacement: str


def retag_rules(sections: Sequence[RetagRuleSection]) -> tuple[RetagRule, ...]:
    """The rules of a `retag = [...]` list (checked by the configuration model); `from` is
    normalised like references are."""
    return tuple(RetagRule(normalise_prefix(rule.prefix), rule.replacement) for rule in sections)


def retag(reference: str, rules: Sequence[RetagRule]) -> str:
    for rule in rules:
        if reference.startswith(rule.prefix):
            return rule.replacement + reference[len(rule.prefix) :]
    return reference


def split_reference(reference: str) -> tuple[str, str | None]:
    """(repository, tag) of `name[:tag][@digest]`; the tag is None for a digest-only name."""
    name = reference.split("@", 1)[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        return name[:colon], name[colon + 1 :]
    if "@" in reference:
        return name, None
    return name, "latest"


def repository_path(reference: str) -> str:
    """The repository without its registry host (`registry.example.org/ops/app` → `ops/app`).

    The first component is a host when it has a dot or a colon or is `localhost`, as Docker
    decides; a name without a host keeps all of its path.
    """
    repository, _ = split_reference(reference)
    first, _, rest = repository.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return rest
    return repository
