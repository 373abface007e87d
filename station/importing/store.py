"""The embedded store: an OCI image layout folder on the kiosk, the default target.

No server is involved. `skopeo inspect oci:STORE:REF` and `skopeo copy oci:STORE:REF ...`
read it, so images can be moved onward from here with standard tools. Importing an image is
a hard link of each verified blob from staging (same file system: no byte copied or read
again), then its name in `index.json`, which is replaced atomically: a killed import leaves
finished images listed and no half image named.
"""

from __future__ import annotations

import threading
from pathlib import Path

from station.importing.base import (
    ImageReceipt,
    ImportFailed,
    ImportPlan,
    ProgressMeter,
    Receipt,
    StepCallback,
    existing_ancestor,
    image_title,
    require_free_space,
)
from station.importing.layout import OciLayout
from station.importing.runner import make_plan, run_plan
from station.progress import ProgressCallback, check_cancel
from station.verify.staged import StagedBundle, StagedImage


class StoreTarget:
    """Import into an OCI layout folder (`<home>/store` unless told otherwise)."""

    name = "store"
    keeps_staged_blobs = True

    def __init__(self, store_dir: Path, home: Path) -> None:
        self.layout = OciLayout(store_dir)
        self.home = home
        self._staged: StagedBundle | None = None

    def describe(self) -> str:
        return f"the embedded store at {self.layout.root}"

    def check(self) -> str | None:
        probe = existing_ancestor(self.layout.root)
        if not probe.is_dir():
            return f"{probe} is not a folder"
        return None

    def plan(self, staged: StagedBundle) -> ImportPlan:
        reason = self.check()
        if reason is not None:
            raise ImportFailed(f"the store cannot be used: {reason}")
        plan = make_plan(
            self.name, staged, self.home, lambda image: f"Put {image_title(image)} in the store",
            signatures=True,
        )
        if not self._linkable(staged):
            needed = sum(image.total_size for image in staged.images)
            require_free_space(self.layout.root, needed, "the images")
        return plan

    def _linkable(self, staged: StagedBundle) -> bool:
        """Blobs can be hard-linked when staging and the store share a file system."""
        try:
            store = existing_ancestor(self.layout.root).stat().st_dev
            return staged.layout.stat().st_dev == store
        except OSError:
            return False

    def run(
        self,
        plan: ImportPlan,
        *,
        on_progress: ProgressCallback | None = None,
        on_step: StepCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> Receipt:
        self._staged = plan.staged
        with self.layout.locked():
            return run_plan(
                plan,
                self.home,
                self._import_one,
                on_progress=on_progress,
                on_step=on_step,
                cancel=cancel,
            )

    def _import_one(
        self, image: StagedImage, meter: ProgressMeter, cancel: threading.Event | None
    ) -> tuple[ImageReceipt, str]:
        staged = self._staged
        assert staged is not None  # noqa: S101 - run() sets it
        copied = 0
        present = all(self.layout.has_blob(digest) for digest in image.blobs)
        for digest in image.blobs:
            check_cancel(cancel, "import stopped")
            source = staged.blob_path(digest)
            size = source.stat().st_size if not self.layout.has_blob(digest) else 0
            copied += self.layout.link_blob(source, digest, size=size,
                                            synced=staged.blobs_durable, cancel=cancel)
        self.layout.sync_blobs()
        meter(image.total_size)
        descriptor = {
            "mediaType": image.descriptor.media_type,
            "digest": image.descriptor.digest,
            "size": image.descriptor.size,
        }
        self.layout.add_to_index(descriptor, image.references)
        receipt = ImageReceipt(
            references=image.references,
            manifest_digest=image.descriptor.digest,
            config_digest=image.images[0].config_digest if len(image.images) == 1 else "",
            where=f"oci:{self.layout.root}",
            bytes_copied=copied,
        )
        return receipt, "already in the store" if present else "stored"
