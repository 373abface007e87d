"""The free-space check counts every byte staging will write, before it writes one.

On a small tmpfs: a bundle that fits is staged; one that needs a byte more than is free
(its files plus the reserve the station keeps for its records) is refused with the exact
numbers and nothing is written.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from station.bundle import open_bundle
from station.verify.blobstore import SPACE_MARGIN, StagingError
from station.verify.policy import Policy
from station.verify.trust import TrustStore
from station.verify.verification import verify_bundle
from tests.builders import make_signer, make_sums_bundle
from tests.real.tmpfs import small_tmpfs

pytestmark = pytest.mark.real


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    with small_tmpfs(tmp_path / "small", "size=80m") as mount:
        yield mount


def test_staging_refuses_exactly_what_does_not_fit(tmp_path: Path, small_fs: Path) -> None:
    signer = make_signer(tmp_path)
    free = psutil.disk_usage(str(small_fs)).free
    room = free - SPACE_MARGIN - 64 * 1024  # a little under what fits (folders take blocks)
    fits = make_sums_bundle(tmp_path / "fits", {"a.bin": b"\1" * room}, signer)
    too_big = make_sums_bundle(tmp_path / "big", {"a.bin": b"\1" * (free - SPACE_MARGIN + 1)},
                               signer)
    trust = TrustStore.load(signer.trust)

    with pytest.raises(StagingError) as refused:
        verify_bundle(open_bundle(too_big), trust, Policy(), staging_root=small_fs)
    expected = free - SPACE_MARGIN + 1 + SPACE_MARGIN
    assert f"staging needs {expected} bytes" in refused.value.message
    assert not list(small_fs.iterdir())

    staged = verify_bundle(open_bundle(fits), trust, Policy(), staging_root=small_fs)
    assert staged.accepted and staged.staged is not None
