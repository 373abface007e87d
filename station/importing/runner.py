"""The part of planning and running that every target shares.

A target supplies only what differs: how one image is described and how one image is imported.
The loop here reports each step to `on_step` (started, then done or failed), counts progress,
honours a stop request between images, and delivers the plain files at the end.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from station.importing.base import (
    ImageReceipt,
    ImportPlan,
    ImportStep,
    ProgressMeter,
    Receipt,
    StepCallback,
    report,
    utc_now,
)
from station.importing.files import deliver_files, delivery_space
from station.progress import ProgressCallback, check_cancel
from station.verify.staged import StagedBundle, StagedImage

ImportOne = Callable[
    [StagedImage, ProgressMeter, threading.Event | None], tuple[ImageReceipt, str]
]


def make_plan(
    target: str, staged: StagedBundle, home: Path, describe: Callable[[StagedImage], str],
    *, signatures: bool = False,
) -> ImportPlan:
    """One step per image (described by the target), then, with `signatures`, one per
    verified signature artifact (for targets that keep them beside the images: the store,
    a registry), then one per delivered file.

    Fails before anything moves when the station home cannot take the delivered files (they
    are renamed there from staging, which costs no space on the same file system).
    """
    steps = [
        ImportStep(describe(image), image=image, bytes=image.total_size)
        for image in staged.images + (staged.signatures if signatures else ())
    ]
    files = [
        ImportStep(f"Deliver {staged_file.path} to the received folder", file=staged_file,
                   bytes=staged_file.size)
        for staged_file in staged.files
    ]
    delivery_space(staged, home)
    return ImportPlan(target, staged, tuple(steps + files))


def run_plan(
    plan: ImportPlan,
    home: Path,
    import_one: ImportOne,
    *,
    on_progress: ProgressCallback | None,
    on_step: StepCallback | None,
    cancel: threading.Event | None,
) -> Receipt:
    """Import every image step with `import_one`, then deliver the files; return the receipt."""
    started = utc_now()
    meter = ProgressMeter(plan.total_bytes, on_progress)
    receipts: list[ImageReceipt] = []
    for step in plan.steps:
        if step.image is None:
            continue
        check_cancel(cancel, "import stopped")
        report(on_step, step, "started")
        meter.at(step.description)
        try:
            receipt, detail = import_one(step.image, meter, cancel)
        except BaseException as exc:
            report(on_step, step, "failed", str(exc))
            raise
        receipts.append(receipt)
        report(on_step, step, "done", detail)
    file_steps = [step for step in plan.steps if step.file is not None]
    for step in file_steps:
        report(on_step, step, "started")
    meter.at("received files")
    try:
        files = deliver_files(plan.staged, home, on_bytes=meter, cancel=cancel)
    except BaseException as exc:
        for step in file_steps:
            report(on_step, step, "failed", str(exc))
        raise
    for step in file_steps:
        report(on_step, step, "done")
    meter.finish()
    return Receipt(plan.target, plan.staged.digest, tuple(receipts), files, started, utc_now())
