"""Which names each image crosses under: one image, one name, declared and carried alike.

A bundle.json signs the references of each image item; the archive carries its own tags.
They must agree (the operators approve the signed names, a loader would apply the carried
ones). Without declared names (a SHA256SUMS bundle) the archive's names are used. A bare OCI
tag (`ref.name` = `1.2`) names no repository: such an image is stored by digest. A name given
to two different images anywhere in the bundle is refused as ambiguous: which one would land
under it would depend on the order of the import.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from station.bundle.model import Finding, ImageGroup, Item
from station.bundle.safety import describe_name
from station.references import ReferenceError, normalise


def declared_references(item: Item) -> tuple[tuple[str, ...], list[Finding]]:
    """The item's declared references, normalised; invalid ones are problems."""
    names: list[str] = []
    problems: list[Finding] = []
    for raw in item.references:
        try:
            name = normalise(raw)
        except ReferenceError as exc:
            problems.append(Finding("invalid-reference", f"{describe_name(item.path)}: "
                                    f"{exc.message}", item.path))
            continue
        if name not in names:
            names.append(name)
    return tuple(names), problems


def assign_references(
    item: Item, groups: Sequence[ImageGroup], declared: tuple[str, ...]
) -> tuple[tuple[ImageGroup, ...], list[Finding], list[Finding]]:
    """Each group with the names it will carry; problems and warnings."""
    problems: list[Finding] = []
    warnings: list[Finding] = []
    shown = describe_name(item.path)
    carried = list(dict.fromkeys(ref for group in groups for ref in group.references))
    if declared and carried and set(carried) != set(declared):
        problems.append(Finding(
            "reference-mismatch",
            f"{shown}: bundle.json declares {', '.join(declared)} but the archive names "
            f"{', '.join(carried)}; the signed names and the carried ones must agree",
            item.path,
        ))
        return tuple(groups), problems, warnings
    result: list[ImageGroup] = []
    if declared and len(groups) == 1:
        group = groups[0]
        for tag in group.tags:
            if not any(ref.endswith(f":{tag}") for ref in declared):
                problems.append(Finding(
                    "reference-mismatch",
                    f"{shown}: the layout tags its image {tag!r}, which none of the declared "
                    f"names ({', '.join(declared)}) carries",
                    item.path,
                ))
        result.append(replace(group, references=declared))
    elif declared and not carried:
        problems.append(Finding(
            "ambiguous-reference",
            f"{shown}: bundle.json declares {', '.join(declared)} for {len(groups)} images "
            "that carry no names; which image is which cannot be told",
            item.path,
        ))
        return tuple(groups), problems, warnings
    else:
        result.extend(groups)
    for group in result:
        if not group.references:
            tags = f" (only the bare tag {', '.join(group.tags)})" if group.tags else ""
            image = group.images[0].info.config_digest
            warnings.append(Finding(
                "untagged",
                f"{shown}: image {image[:19]}… has no name{tags}; it is kept by digest and "
                "cannot be pushed to a registry",
                item.path,
            ))
    return tuple(result), problems, warnings


def _identity(group: ImageGroup) -> str:
    if group.top is not None:
        return group.top.digest
    return group.images[0].info.config_digest


def ambiguous_names(items: Iterable[Item]) -> list[Finding]:
    """Names given to two different images anywhere in the bundle."""
    owner: dict[str, tuple[str, str]] = {}
    problems: list[Finding] = []
    reported: set[str] = set()
    for item in items:
        for group in item.groups:
            identity = _identity(group)
            for ref in group.references:
                seen = owner.setdefault(ref, (identity, item.path))
                if seen[0] != identity and ref not in reported:
                    reported.add(ref)
                    problems.append(Finding(
                        "ambiguous-reference",
                        f"{ref} names two different images ({describe_name(seen[1])} and "
                        f"{describe_name(item.path)}); one name must mean one image",
                        item.path,
                    ))
    return problems
