"""What the station reads in an image archive, skopeo (Go) reads the same way.

Generated docker save and oci-archive tarballs, honest or mutated (tests/strategies.py):
whenever the station accepts one, `skopeo inspect --config --raw` finds the same config
digest for every image (`docker-archive:PATH:@N`, `oci-archive:PATH:REF`). The number of
examples is bounded (50; skopeo takes ~15 ms a call); the archives skopeo itself wrote for the
fuzz seeds are explicit cases.
"""

from __future__ import annotations

import hashlib
import json
import lzma
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from station.bundle.oci import read_image_archive
from station.config import Limits
from station.errors import StationError
from tests.strategies import (
    ImageArchive,
    Mutation,
    examples,
    image_archives,
    mutate,
    mutations,
)

SKOPEO = shutil.which("skopeo")
pytestmark = [
    pytest.mark.real,
    pytest.mark.skipif(SKOPEO is None, reason="skopeo is not installed (Debian: skopeo)"),
]
SEEDS = Path(__file__).parents[1] / "fuzz" / "corpus" / "image_archive"


def _skopeo_config(source: str) -> str | None:
    done = subprocess.run([SKOPEO or "skopeo", "--insecure-policy", "inspect", "--config",
                           "--raw", source], capture_output=True, timeout=60, check=False)
    return "sha256:" + hashlib.sha256(done.stdout).hexdigest() if done.returncode == 0 else None


def skopeo_reading(path: Path) -> list[str | None]:
    """The config digest skopeo finds for each image the archive names, in its order."""
    with tarfile.open(path) as tar:
        names = tar.getnames()
        if "manifest.json" in names:
            count = len(json.loads(tar.extractfile("manifest.json").read()))  # type: ignore[union-attr]
            return [_skopeo_config(f"docker-archive:{path}:@{n}") for n in range(count)]
        index = json.loads(tar.extractfile("index.json").read())  # type: ignore[union-attr]
    refs = [d["annotations"]["org.opencontainers.image.ref.name"] for d in index["manifests"]]
    return list(dict.fromkeys(_skopeo_config(f"oci-archive:{path}:{ref}") for ref in refs))


def _agree(data: bytes) -> bool:
    """True when the station read the archive (and skopeo agreed); False when refused."""
    handle, name = tempfile.mkstemp(suffix=".tar")
    path = Path(name)
    try:
        os.write(handle, data)
        os.close(handle)
        try:
            images = read_image_archive(path, Limits())
        except StationError:
            return False
        assert [image.config_digest for image in images] == skopeo_reading(path)
        return True
    finally:
        path.unlink()


@settings(max_examples=examples(50), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(archive=image_archives(compressions=("none",), max_images=2),
       changes=st.lists(mutations, max_size=2))
def test_what_the_station_reads_skopeo_reads_the_same(archive: ImageArchive,
                                                       changes: list[Mutation]) -> None:
    read = _agree(mutate(archive.data, changes) if changes else archive.data)
    event(f"{archive.form}, {'mutated' if changes else 'honest'}: "
          f"{'read alike' if read else 'refused'}")
    if not changes:
        assert read, "an honest archive was refused"


@pytest.mark.parametrize("seed", ["skopeo-docker-archive.tar.xz", "skopeo-oci-archive.tar.xz"])
def test_archives_skopeo_wrote_are_read_with_skopeos_config_digests(seed: str) -> None:
    assert _agree(lzma.decompress((SEEDS / seed).read_bytes()))
