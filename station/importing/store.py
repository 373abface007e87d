"""The embedded store: an OCI image layout folder on the kiosk, the default target.

No server is involved. `skopeo inspect oci:STORE:REF` and `skopeo copy oci:STORE:REF ...`
read it, so images can be moved onward from here with standard tools. Each image is written
blob by blob (each checked against its digest) and only then named in `index.json`, which is
replaced atomically: a killed import leaves finished images listed and no half image named.
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
    StagedBundle,
    StepCallback,
    existing_ancestor,
    image_references,
    image_title,
    require_free_space,
)
from station.importing.layout import OciLayout
from station.importing.runner import make_plan, run_plan
from station.importing.sources import SourceImage, copy_image
from station.progress import ProgressCallback


class StoreTarget:
    """Import into an OCI layout folder (`<home>/store` unless told otherwise)."""

    name = "store"

    def __init__(self, store_dir: Path, home: Path) -> None:
        self.layout = OciLayout(store_dir)
        self.home = home

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
            self.name, staged, self.home, lambda s: f"Copy {image_title(s.image)} into the store"
        )
        needed = sum(
            image.config_size
            + sum(layer.size for layer in image.layers if not self.layout.has_blob(layer.digest))
            for image in (step.image for step in plan.steps)
            if image is not None
        )
        require_free_space(self.layout.root, needed, "the images")
        return plan

    def run(
        self,
        plan: ImportPlan,
        *,
        on_progress: ProgressCallback | None = None,
        on_step: StepCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> Receipt:
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
        self, source: SourceImage, meter: ProgressMeter, cancel: threading.Event | None
    ) -> tuple[ImageReceipt, str]:
        copied = copy_image(source, self.layout, on_bytes=meter, cancel=cancel)
        references = image_references(source.item, source.image)
        self.layout.add_to_index(copied.descriptor, references)
        receipt = ImageReceipt(
            references=references,
            manifest_digest=copied.descriptor["digest"],
            config_digest=source.image.config_digest,
            where=f"oci:{self.layout.root}",
            bytes_copied=copied.bytes_copied,
        )
        return receipt, "copied" if copied.bytes_copied else "already in the store"
