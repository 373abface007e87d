"""Plain-data views of a bundle, for `--json` output and the audit log."""

from __future__ import annotations

from collections.abc import Mapping

from station.bundle.model import Bundle, ImageInfo, Item
from station.bundle.summaries import ItemSummary, summary_to_json


def image_to_json(image: ImageInfo) -> dict[str, object]:
    return {
        "references": list(image.references),
        "platform": image.platform,
        "manifest_digest": image.manifest_digest,
        "config_digest": image.config_digest,
        "created": image.created,
        "labels": dict(image.labels),
        "size": image.total_size,
        "layers": [
            {"digest": layer.digest, "size": layer.size, "media_type": layer.media_type}
            for layer in image.layers
        ],
    }


def item_to_json(item: Item) -> dict[str, object]:
    return {
        "path": item.path,
        "kind": item.kind.value,
        "size": item.size,
        "references": list(item.references),
        "files": [{"path": e.path, "size": e.size, "sha256": e.sha256} for e in item.entries],
        "images": [image_to_json(image) for image in item.images],
        "description": item.description,
    }


def bundle_to_json(
    bundle: Bundle, summaries: Mapping[str, ItemSummary] | None = None
) -> dict[str, object]:
    """The bundle as plain data; with `summaries`, each item also gets a `summary` (or null)."""
    info = bundle.info
    items = [item_to_json(item) for item in bundle.items]
    if summaries is not None:
        for item, doc in zip(bundle.items, items, strict=True):
            found = summaries.get(item.path)
            doc["summary"] = None if found is None else summary_to_json(found)
    return {
        "path": str(bundle.root),
        "format": bundle.format.value,
        "manifest": bundle.manifest_name,
        "bundle_digest": bundle.digest,
        "info": None
        if info is None
        else {
            "name": info.name,
            "channel": info.channel,
            "sequence": info.sequence,
            "created": info.created,
            "producer": info.producer,
        },
        "signature_files": [s.name for s in bundle.signatures],
        "size": bundle.declared_size,
        "items": items,
        "problems": [p.to_json() for p in bundle.problems],
        "warnings": [w.to_json() for w in bundle.warnings],
    }
