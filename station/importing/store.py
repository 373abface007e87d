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
    DeliveredFile,
    ImageReceipt,
    ImportFailed,
    ImportPlan,
    ImportStep,
    ProgressMeter,
    Receipt,
    StagedBundle,
    StepCallback,
    image_references,
    image_title,
    report,
    require_free_space,
    utc_now,
)
from station.importing.files import deliver_files, file_items
from station.importing.layout import OciLayout
from station.importing.sources import SourceImage, copy_image, source_images
from station.progress import ProgressCallback, check_cancel


def file_steps(staged: StagedBundle) -> list[ImportStep]:
    """One step per plain file, SBOM or scan report, delivered whatever the target."""
    return [
        ImportStep(f"Deliver {item.path} to the received folder", item=item, bytes=item.size or 0)
        for item in file_items(staged)
    ]


class StoreTarget:
    """Import into an OCI layout folder (`<home>/store` unless told otherwise)."""

    name = "store"

    def __init__(self, store_dir: Path, home: Path) -> None:
        self.layout = OciLayout(store_dir)
        self.home = home

    def describe(self) -> str:
        return f"the embedded store at {self.layout.root}"

    def check(self) -> str | None:
        probe = self.layout.root
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        if not probe.is_dir():
            return f"{probe} is not a folder"
        return None

    def plan(self, staged: StagedBundle) -> ImportPlan:
        reason = self.check()
        if reason is not None:
            raise ImportFailed(f"the store cannot be used: {reason}")
        steps: list[ImportStep] = []
        needed = 0
        for source in source_images(staged):
            image = source.image
            new = sum(
                layer.size for layer in image.layers if not self.layout.has_blob(layer.digest)
            )
            needed += new + image.config_size
            steps.append(
                ImportStep(
                    f"Copy {image_title(image)} into the store",
                    image=image,
                    item=source.item,
                    bytes=image.total_size,
                )
            )
        steps.extend(file_steps(staged))
        require_free_space(self.layout.root, needed, "the images")
        require_free_space(self.home, sum(s.bytes for s in file_steps(staged)), "the files")
        return ImportPlan(self.name, staged, tuple(steps))

    def run(
        self,
        plan: ImportPlan,
        *,
        on_progress: ProgressCallback | None = None,
        on_step: StepCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> Receipt:
        started = utc_now()
        meter = ProgressMeter(plan.total_bytes, on_progress)
        sources = {id(s.image): s for s in source_images(plan.staged)}
        receipts: list[ImageReceipt] = []
        with self.layout.locked():
            for step in plan.steps:
                if step.image is None:
                    continue
                check_cancel(cancel, "import stopped")
                receipts.append(self._import_one(step, sources[id(step.image)], meter, on_step,
                                                 cancel))
        files: tuple[DeliveredFile, ...] = ()
        file_plan = [step for step in plan.steps if step.image is None]
        for step in file_plan:
            report(on_step, step, "started")
        if file_plan:
            meter.at("received files")
            files = deliver_files(plan.staged, self.home, on_bytes=meter, cancel=cancel)
        for step in file_plan:
            report(on_step, step, "done")
        meter.finish()
        return Receipt(self.name, plan.staged.digest, tuple(receipts), files, started, utc_now())

    def _import_one(
        self,
        step: ImportStep,
        source: SourceImage,
        meter: ProgressMeter,
        on_step: StepCallback | None,
        cancel: threading.Event | None,
    ) -> ImageReceipt:
        report(on_step, step, "started")
        meter.at(step.description)
        try:
            copied = copy_image(source, self.layout, on_bytes=meter, cancel=cancel)
            references = image_references(source.item, source.image)
            self.layout.add_to_index(copied.descriptor, references)
        except Exception as exc:
            report(on_step, step, "failed", str(exc))
            raise
        detail = "copied" if copied.bytes_copied else "already in the store"
        report(on_step, step, "done", detail)
        return ImageReceipt(
            references=references,
            manifest_digest=copied.descriptor["digest"],
            config_digest=source.image.config_digest,
            where=f"oci:{self.layout.root}",
            bytes_copied=copied.bytes_copied,
        )
