"""Properties of the image archive readers (`read_image_archive`, strict tar + strict JSON).

- an archive written the way docker save or skopeo write one (any member order, PAX or
  USTAR, any compression) lists exactly its images: config digests and normalised names;
- a crafted or damaged archive gives a reading or a BundleError, nothing else;
- what the station accepts, a loader reading it the way docker load and skopeo do (tarfile,
  Go's JSON field matching) finds the same config digests. tests/real runs skopeo itself.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from station.bundle.oci import read_image_archive
from station.config import Limits
from station.errors import BundleError, StationError
from tests.reader_views import loader_view
from tests.strategies import (
    ImageArchive,
    Mutation,
    compress,
    examples,
    image_archives,
    mutate,
    mutations,
)

SETTINGS = settings(max_examples=examples(100), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
LIMITS = Limits()


def _read(data: bytes) -> list[tuple[str, tuple[str, ...]]]:
    handle, name = tempfile.mkstemp(suffix=".tar")
    try:
        os.write(handle, data)
        os.close(handle)
        images = read_image_archive(Path(name), LIMITS, display_name="image.tar")
    finally:
        os.unlink(name)
    return [(image.config_digest, image.references) for image in images]


@SETTINGS
@given(archive=image_archives())
def test_an_honest_archive_lists_exactly_its_images(archive: ImageArchive) -> None:
    found = _read(archive.data)
    assert [digest for digest, _ in found] == list(archive.config_digests)
    for (_, names), expected in zip(found, archive.references, strict=True):
        assert set(names) == set(expected)


@settings(SETTINGS, max_examples=examples(250))
@given(archive=image_archives(compressions=("none",)),
       changes=st.lists(mutations, min_size=1, max_size=3),
       how=st.sampled_from(["none", "none", "gzip"]))
def test_what_it_accepts_a_loader_reads_the_same(archive: ImageArchive,
                                                 changes: list[Mutation], how: str) -> None:
    data = compress(mutate(archive.data, changes), how)
    try:
        found = _read(data)
    except BundleError as exc:
        assert exc.message.startswith("image.tar")
        return
    except StationError:
        return
    assert [digest for digest, _ in found] == loader_view(data)
