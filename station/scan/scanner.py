"""Scan the images of an OCI image layout: catalogue each one, match it against the database.

`scan_layout` reads only the layout it is given (the station's store, a staged verified
bundle, or any `oci:DIR`): index.json, then each image's manifest and config (through the
same strict reader verification uses), then its layers in order (station.scan.layers).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from station.bundle.model import ImageInfo
from station.bundle.oci import read_oci_layout
from station.config import Limits
from station.errors import BundleError
from station.progress import ProgressCallback
from station.references import ReferenceError, normalise
from station.scan.catalogue import catalogue, read_cap
from station.scan.errors import ScanError
from station.scan.layers import progress_meter, read_image_files
from station.scan.matching import match_packages
from station.scan.report import ImageScan, ScanReport
from station.scan.vulndb import VulnDB


def _selected(layout: Path, images: Sequence[ImageInfo], references: Sequence[str] | None
              ) -> list[ImageInfo]:
    if references is None:
        return list(images)
    chosen: list[ImageInfo] = []
    for wanted in references:
        try:
            name = normalise(wanted)
        except ReferenceError:
            name = wanted
        found = [
            image for image in images
            if name in image.references
            or wanted in (image.manifest_digest, image.config_digest)
        ]
        if not found:
            raise ScanError(
                f"{layout} holds no image {wanted!r}",
                hint="name it as the layout's index names it (station inspect shows the names)",
            )
        chosen.extend(image for image in found if image not in chosen)
    return chosen


def scan_layout(
    layout: Path,
    references: Sequence[str] | None,
    db: VulnDB,
    *,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    now: datetime | None = None,
    limits: Limits | None = None,
) -> ScanReport:
    """Scan the images of `layout` (all of them, or those `references` names).

    A reference is matched as the layout names it (`org.opencontainers.image.ref.name`), or
    as a manifest or config digest. Progress counts layer bytes; `cancel` is checked every
    chunk. Raises ScanError for an unreadable layout, image or layer; what only makes the
    result incomplete (an unreadable package database, an unknown distribution) is listed in
    each image's `problems`.
    """
    when = now or datetime.now(UTC)
    status = db.status(when)
    try:
        images = read_oci_layout(layout, limits or Limits())
    except BundleError as exc:
        raise ScanError(exc.message, hint=exc.hint) from None
    chosen = _selected(layout, images, references)
    meter = progress_meter(sum(layer.size for i in chosen for layer in i.layers), on_progress)
    scans: list[ImageScan] = []
    for image in chosen:
        files = read_image_files(layout, image.layers, read_cap, on_bytes=meter, cancel=cancel)
        found = catalogue(files.files, files.problems)
        matched = match_packages(found.packages, found.distro, db)
        scans.append(
            ImageScan(
                reference=image.references[0] if image.references else None,
                references=image.references,
                manifest_digest=image.manifest_digest,
                config_digest=image.config_digest,
                distro=found.distro,
                packages=found.packages,
                vulnerabilities=matched.matches,
                problems=found.problems + matched.problems,
                ecosystems=matched.ecosystems,
            )
        )
    return ScanReport(db=status, images=tuple(scans), scanned_at=when)
