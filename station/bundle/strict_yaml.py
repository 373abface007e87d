"""YAML as Zarf writes it, read strictly: a duplicate key is refused, never resolved.

Go's YAML decoders keep the last of repeated keys where PyYAML keeps the last too, but a
reader that kept the first would see another package; refusing the ambiguity is the only
answer that holds for every reader. Imported only when a Zarf package is read.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml import YAMLError

__all__ = ["YAMLError", "load_strict"]


class _StrictLoader(yaml.SafeLoader):
    """The safe loader, with no duplicate keys in any mapping."""


def _mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}",
                                                    key_node.start_mark)
        seen.add(key)
    return dict(loader.construct_mapping(node))


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def load_strict(text: str) -> Any:
    """One YAML document, with safe types only and no duplicate keys."""
    return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
