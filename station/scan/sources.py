"""What `station scan SOURCE` names: `store`, `oci:DIR[:REF]`, or a media path.

A media path must be scanned as an import would see it: its verified, staged copy. That
staging (the canonical form of issues 9/12, `<home>/staging/<digest>/oci/`) is being rebuilt
on main; `stage_for_scan` is the seam where it plugs in and refuses plainly until then.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from station.config import StationConfig
from station.errors import StationError, UsageError


@dataclass(frozen=True)
class ScanSource:
    """An OCI layout to scan and which of its images (None: every image)."""

    layout: Path
    references: tuple[str, ...] | None
    is_store: bool = False


def stage_for_scan(media: Path, station: Any) -> Path:
    """Verify the bundle at `media` into staging and return its OCI layout (`.../oci`).

    Not available yet: it needs the verified staging of issues 9/12.
    """
    raise StationError(
        "scanning media needs the verified staging of issue 9/12, which is not in this "
        f"station yet ({media})",
        hint="scan after import with 'station scan store', or scan a layout with "
        "'station scan oci:DIR[:REF]'",
    )


def parse_source(text: str, config: StationConfig) -> ScanSource:
    """`store` -> the embedded store; `oci:DIR[:REF]` -> that layout (DIR has no ':', as for
    skopeo); anything else is a media path, scanned through `stage_for_scan`."""
    if text == "store":
        return ScanSource(config.store_dir, None, is_store=True)
    if text.startswith("oci:"):
        folder, sep, reference = text.removeprefix("oci:").partition(":")
        if not folder:
            raise UsageError("oci: needs a folder: oci:DIR or oci:DIR:REF")
        return ScanSource(Path(folder), (reference,) if sep and reference else None)
    return ScanSource(stage_for_scan(Path(text), config), None)
