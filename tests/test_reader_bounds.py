"""Bounds on any input (issue 9, item 7): memory under 200 MB, time linear, refusal at caps.

Each reading runs in a fresh subprocess that reports its own peak RSS, so what the test
itself holds is not counted: VmHWM, the high-water mark of the process's own memory, because
Linux carries `getrusage`'s ru_maxrss over from the parent across fork and exec (a child of
a 280 MB pytest reports 280 MB before doing anything); ru_maxrss is printed beside it.

The inputs are built here: gzip bombs of ~21 KB in both image-archive forms, 3,000 and
12,000 OCI layout folders under one SHA256SUMS, 200,000 entries on the media (on tmpfs,
where 200,000 files take a second to make).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import tar_headers as th
from tests.builders import make_signer, sign_file
from tests.fuzz.seeds import _index, oci_layout_members

ROOT = Path(__file__).parents[1]
MiB = 1024 * 1024
PEAK_MB = 200

_PROBE = r"""
import json, re, resource, sys, time
from pathlib import Path
from station.config import Limits
from station.errors import StationError
what, path = sys.argv[1], Path(sys.argv[2])
started = time.perf_counter()
outcome, message = "read", ""
try:
    if what == "archive":
        from station.bundle.oci import read_image_archive
        message = str(len(read_image_archive(path, Limits())))
    else:
        from station.bundle import open_bundle
        bundle = open_bundle(path)
        message = "; ".join(p.message for p in bundle.problems)[:2000]
        if what == "verify":
            from station.verify import verify_bundle
            from station.verify.policy import Policy
            from station.verify.trust import TrustStore
            result = verify_bundle(bundle, TrustStore.load(Path(sys.argv[3])), Policy())
            outcome = result.verdict
            message = "; ".join(f"{p.code}: {p.message[:300]}" for p in result.problems)
except StationError as exc:
    outcome, message = "refused", exc.message
status = Path("/proc/self/status").read_text()
print(json.dumps({"outcome": outcome, "message": message,
                  "seconds": time.perf_counter() - started,
                  "peak_mb": int(re.search(r"VmHWM:\s+(\d+)", status).group(1)) / 1024,
                  "ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def measure(what: str, *args: Path, timeout: float = 120) -> dict[str, object]:
    """Read `args[0]` in a fresh process: outcome, message, seconds, peak RSS in MB."""
    done = subprocess.run([sys.executable, "-c", _PROBE, what, *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    found: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    print(f"{what} {args[0].name}: {found}")
    return found


@pytest.fixture
def tmpfs() -> Iterator[Path]:
    """A folder on tmpfs when there is one (making 200,000 files on disk takes 20 s)."""
    base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    folder = Path(tempfile.mkdtemp(prefix="station-bounds-", dir=base))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# -- gzip bombs ---------------------------------------------------------------------------

def _amplifying_json(size: int) -> bytes:
    """`[[],[],...]`: 3 bytes a value, ~70 bytes each once parsed by Python."""
    return b"[" + b"[]," * ((size - 4) // 3) + b"[]]"


def json_bomb(form: str) -> bytes:
    """~21 KB of gzip: a 4 MiB manifest.json (or index.json) of `[],` and four more 4 MiB
    JSON members that the reader keeps for later (the kept-JSON budget)."""
    document = _amplifying_json(4 * MiB - 64)
    members = [th.member(f"extra{i}.json", document) for i in range(4)]
    if form == "oci-archive":
        members.insert(0, th.member("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'))
        members.append(th.member("index.json", document))
    else:
        members.append(th.member("manifest.json", document))
    return gzip.compress(th.archive(*members), 9)


def layer_bomb() -> bytes:
    """A docker save whose one layer is 64 MiB of zeros (~64 KB of gzip in all)."""
    layer = bytes(64 * MiB)
    archive = th.DockerArchive(json.dumps({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "0" * 64]}}).encode(),
        layer, "bomb:1")
    return gzip.compress(th.archive(*(th.member(n, d) for n, d in archive.members())), 9)


@pytest.mark.parametrize("form", ["docker-save", "oci-archive"])
def test_a_21_kb_gzip_json_bomb_stays_under_200_mb(tmp_path: Path, form: str) -> None:
    bomb = json_bomb(form)
    assert 15_000 < len(bomb) < 25_000, len(bomb)
    path = tmp_path / "bomb.tar.gz"
    path.write_bytes(bomb)
    found = measure("archive", path)
    assert found["outcome"] == "refused"
    assert "holds more than 200000 JSON values" in str(found["message"])
    assert float(found["peak_mb"]) < PEAK_MB  # type: ignore[arg-type]
    assert float(found["seconds"]) < 10  # type: ignore[arg-type]


def test_a_gzip_bomb_in_a_signed_bundle_is_rejected_under_200_mb(tmp_path: Path) -> None:
    """Verification reads every byte (hashing, splitting, the diff_id of the layer)."""
    signer = make_signer(tmp_path, "alice")
    media = tmp_path / "media"
    media.mkdir()
    files = {"json-bomb.tar.gz": json_bomb("docker-save"), "layer-bomb.tar.gz": layer_bomb(),
             "oci-bomb.tar.gz": json_bomb("oci-archive")}
    lines = []
    for name, data in files.items():
        (media / name).write_bytes(data)
        lines.append(f"{hashlib.sha256(data).hexdigest()}  {name}\n")
    (media / "SHA256SUMS").write_text("".join(lines))
    sign_file(signer, media / "SHA256SUMS")
    found = measure("verify", media, signer.trust)
    assert found["outcome"] == "rejected"
    message = str(found["message"])
    assert "json-bomb.tar.gz: manifest.json holds more than 200000 JSON values" in message
    assert "oci-bomb.tar.gz: index.json holds more than 200000 JSON values" in message
    assert "diff-id-mismatch: layer-bomb.tar.gz: layer 0" in message
    assert float(found["peak_mb"]) < PEAK_MB  # type: ignore[arg-type]


# -- many layout folders ---------------------------------------------------------------------

def _layout_folders(root: Path, count: int) -> Path:
    """`count` OCI layout folders (one image each) listed in one SHA256SUMS."""
    members = dict(oci_layout_members())
    manifest = next(d for d in members.values() if b'"schemaVersion"' in d)
    members["index.json"] = _index(manifest)
    digests = {name: hashlib.sha256(data).hexdigest() for name, data in members.items()}
    lines = []
    for i in range(count):
        for name, data in members.items():
            path = root / f"img{i:05}" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            lines.append(f"{digests[name]}  img{i:05}/{name}\n")
    (root / "SHA256SUMS").write_text("".join(lines))
    return root


def _open_seconds(root: Path, runs: int = 1) -> float:
    """The best of `runs` openings of the bundle at `root`, in seconds."""
    return min(float(measure("open", root)["seconds"]) for _ in range(runs))  # type: ignore[arg-type]


def test_opening_layout_folders_takes_time_linear_in_their_number(tmpfs: Path) -> None:
    """3,000 folders, then 12,000: four times the folders may take at most ~4x the time
    (6x allowed for noise; quadratic time is 16x). 750 against 3,000 is checked first,
    so a quadratic reader fails in seconds rather than minutes."""
    small = _open_seconds(_layout_folders(tmpfs / "n750", 750), runs=2)
    middle = _open_seconds(_layout_folders(tmpfs / "n3000", 3000))
    assert middle <= 6 * max(small, 0.05), f"750 folders: {small:.2f} s, 3,000: {middle:.2f} s"
    found = measure("open", _layout_folders(tmpfs / "n12000", 12000))
    large = float(found["seconds"])  # type: ignore[arg-type]
    assert large <= 6 * middle, f"3,000 folders: {middle:.2f} s, 12,000: {large:.2f} s"
    assert float(found["peak_mb"]) < PEAK_MB  # type: ignore[arg-type]


# -- many entries ----------------------------------------------------------------------------

def _entries(root: Path, count: int, *, folders: bool) -> Path:
    (root / "d").mkdir(parents=True)
    (root / "SHA256SUMS").write_text("0" * 64 + "  d/f000000\n")
    fd = os.open(root / "d", os.O_RDONLY | os.O_DIRECTORY)
    try:
        for i in range(count):
            if folders:
                os.mkdir(f"f{i:06}", dir_fd=fd)
            else:
                os.close(os.open(f"f{i:06}", os.O_CREAT | os.O_WRONLY, 0o644, dir_fd=fd))
    finally:
        os.close(fd)
    return root


def test_200000_files_on_the_media_are_refused_at_the_cap_under_200_mb(tmpfs: Path) -> None:
    found = measure("open", _entries(tmpfs / "media", 200_000, folders=False))
    assert found["outcome"] == "refused"
    assert "more than 100000 entries" in str(found["message"])
    assert float(found["peak_mb"]) < PEAK_MB  # type: ignore[arg-type]


def test_200000_folders_on_the_media_are_refused_at_the_cap_under_200_mb(tmpfs: Path) -> None:
    found = measure("open", _entries(tmpfs / "media", 200_000, folders=True))
    assert found["outcome"] == "refused"
    assert "more than 100000 entries" in str(found["message"])
    assert float(found["peak_mb"]) < PEAK_MB  # type: ignore[arg-type]
