"""Work copies in staging for tools that cannot read an image where it is staged.

skopeo 1.9 addresses an image inside an OCI layout only by its ref name, and Docker 20.10
cannot load OCI archives at all. So an OCI-shaped image is first copied (every blob checked
again) into a one-image layout under the station's work folder, named `image`; from there
skopeo pushes it, or turns it into a docker-archive that the engine loads.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from station.importing.base import ImportFailed
from station.importing.layout import BytesCallback, OciLayout
from station.importing.skopeo import run_skopeo
from station.importing.sources import SourceImage, copy_image

WORK_REF = "image"


@contextlib.contextmanager
def work_folder(parent: Path) -> Iterator[Path]:
    """A private folder for one conversion, removed afterwards whatever happens."""
    try:
        parent.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix="import-", dir=parent))
    except OSError as exc:
        raise ImportFailed(f"cannot make a work folder in {parent}: {exc.strerror}") from exc
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def one_image_layout(
    source: SourceImage,
    folder: Path,
    *,
    on_bytes: BytesCallback | None = None,
    cancel: threading.Event | None = None,
) -> str:
    """Copy the image into an OCI layout at `folder`; return the skopeo name `oci:DIR:image`."""
    layout = OciLayout(folder)
    layout.create()
    copied = copy_image(source, layout, on_bytes=on_bytes, cancel=cancel)
    layout.add_to_index(copied.descriptor, [WORK_REF])
    return f"oci:{folder}:{WORK_REF}"


def to_docker_archive(
    image_name: str, tar_path: Path, reference: str | None, cancel: threading.Event | None
) -> None:
    """`skopeo copy` an image into a docker-archive tar that Docker 20.10 can load."""
    destination = f"docker-archive:{tar_path}" + (f":{reference}" if reference else "")
    run_skopeo(
        ["copy", "--quiet", image_name, destination],
        what="converting the image for the Docker engine",
        cancel=cancel,
        hint="check free space in the station's staging folder, then import again",
    )
