"""Bundles on the media: manifests, the items they list, and the images inside archives."""

from station.bundle.model import Bundle, BundleFormat, Entry, Finding, ImageInfo, Item, ItemKind
from station.bundle.reader import open_bundle

__all__ = [
    "Bundle",
    "BundleFormat",
    "Entry",
    "Finding",
    "ImageInfo",
    "Item",
    "ItemKind",
    "open_bundle",
]
