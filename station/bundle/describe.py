"""Plain-data views of a bundle, for `--json` output and the audit log."""

from __future__ import annotations

from station.bundle.model import Bundle, ImageInfo, Item


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
    }


def bundle_to_json(bundle: Bundle) -> dict[str, object]:
    info = bundle.info
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
        "items": [item_to_json(item) for item in bundle.items],
        "problems": [p.to_json() for p in bundle.problems],
        "warnings": [w.to_json() for w in bundle.warnings],
    }
