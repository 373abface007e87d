"""What `station scan SOURCE` names: `store`, `oci:DIR[:REF]`, or a media path.

A media path is scanned as an import would see it: `stage_for_scan` verifies the bundle with
the station's trust store and policy into a private folder (`station.scratch`), the media
read once, and the station's own staged layout of the verified images is what is scanned.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from station.config import StationConfig
from station.errors import StationError, UsageError
from station.scratch import scratch_folder


@dataclass(frozen=True)
class ScanSource:
    """An OCI layout to scan and which of its images (None: every image)."""

    layout: Path  # for media: the media folder, staged by `stage_for_scan` before scanning
    references: tuple[str, ...] | None
    is_store: bool = False
    is_media: bool = False


@contextlib.contextmanager
def stage_for_scan(media: Path, config: StationConfig) -> Iterator[Path]:
    """Verify the bundle at `media` into a private folder and yield its staged OCI layout.

    The bytes scanned are the verified ones, exactly as an import would scan them: the
    station's trust store and policy decide, the media is read once, and what is staged is
    the station's own layout. The station's own scan is left out of this verification (it is
    what runs next). A bundle that is rejected is not scanned: its reasons are the error.
    """
    from station.bundle import open_bundle
    from station.malware.settings import MalwareSettings
    from station.verify.policy import Policy
    from station.verify.trust import TrustStore
    from station.verify.verification import verify_bundle

    bundle = open_bundle(media, config.limits)
    with scratch_folder(config.home) as folder:
        verification = verify_bundle(
            bundle, TrustStore.load(config.trust_dir), Policy.from_config(config),
            limits=config.limits, staging_root=folder,
            malware=MalwareSettings.from_config(config),
        )
        if verification.staged is None:
            reasons = "; ".join(p.message for p in verification.problems[:3])
            raise BundleRejected(
                f"the bundle at {media} is rejected, so it is not scanned: {reasons}",
                hint="station verify shows every reason",
            )
        yield verification.staged.layout


class BundleRejected(StationError):
    """The media's bundle did not verify: only verified images are scanned."""

    exit_code = 1


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
    return ScanSource(Path(text), None, is_media=True)
