"""Each fuzz target runs for a few seconds (STATION_FUZZ_SECONDS, default 4) from its seeds.

A crash (an exception other than StationError, a disagreement between two readers, a hang
or memory past 1.5 GB) fails the test with the fuzzer's report and the crashing input kept
in the test's folder. `benchmarks/fuzz_readers.py` runs the same targets for minutes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fuzz.targets import TARGETS

CORPUS = Path(__file__).parent / "corpus"
ROOT = Path(__file__).parents[2]
SECONDS = int(os.environ.get("STATION_FUZZ_SECONDS", "4"))


def run_target(name: str, workdir: Path, seconds: int) -> subprocess.CompletedProcess[str]:
    """Fuzz `name` for `seconds` from a copy of its seeds; the copy grows, the seeds do not."""
    corpus = workdir / "corpus"
    shutil.copytree(CORPUS / name, corpus)
    return subprocess.run(
        [sys.executable, "-m", "tests.fuzz.run", name, str(corpus),
         f"-max_total_time={seconds}", "-timeout=10", "-rss_limit_mb=1536",
         f"-artifact_prefix={workdir}/", "-print_final_stats=1"],
        cwd=ROOT, capture_output=True, text=True, timeout=seconds + 120, check=False,
    )


def test_every_target_has_seeds() -> None:
    assert sorted(p.name for p in CORPUS.iterdir()) == sorted(TARGETS)
    for folder in CORPUS.iterdir():
        sizes = [p.stat().st_size for p in folder.iterdir()]
        assert sizes and max(sizes) <= 16 * 1024, folder


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_fuzzing_finds_no_crash(name: str, tmp_path: Path) -> None:
    result = run_target(name, tmp_path, SECONDS)
    if "atheris cannot be imported" in result.stderr:
        print(result.stderr.splitlines()[0])  # the fallback's reason
    crashes = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(
        ("crash-", "timeout-", "oom-", "leak-")))
    assert result.returncode == 0 and not crashes, (
        f"fuzzing {name} failed (status {result.returncode}, inputs kept: {crashes} in "
        f"{tmp_path}):\n{result.stderr[-4000:]}")
    assert "Done" in result.stderr
