"""Fuzz every media reader for minutes (the test command runs each for seconds).

For each target of tests/fuzz/targets.py, from a copy of its committed seeds:
  seed coverage      what the seeds alone reach (libFuzzer's `cov`, measured first)
  coverage ratio     coverage after the run / seed coverage (how far fuzzing got past them)
  exec/s, new units  speed, and inputs that reached new code
  peak RSS           the fuzzing process's peak memory
Any crash (an exception other than StationError, a disagreement between readers, a hang,
memory past --rss-mb) is listed with the file holding its input, and the exit status is 1.
Usage: .venv/bin/python benchmarks/fuzz_readers.py [--minutes 2] [--targets a,b] [--keep DIR]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fuzz.targets import TARGETS  # noqa: E402

CORPUS = ROOT / "tests" / "fuzz" / "corpus"


def _fuzz(name: str, corpus: Path, artifacts: Path, extra: list[str]) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "tests.fuzz.run", name, str(corpus), "-timeout=10",
         f"-artifact_prefix={artifacts}/", "-print_final_stats=1", *extra],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )
    return result.stderr


def _last(pattern: str, text: str) -> int:
    found = re.findall(pattern, text)
    return int(found[-1]) if found else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=2.0, help="per target")
    parser.add_argument("--targets", default=",".join(sorted(TARGETS)))
    parser.add_argument("--rss-mb", type=int, default=1536)
    parser.add_argument("--keep", type=Path, help="keep the grown corpora and crashes here")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="station-fuzz-"))
    crashed: list[str] = []
    print(f"{'target':18} {'seed cov':>8} {'cov ratio':>9} {'exec/s':>8} {'new':>6} "
          f"{'RSS MB':>7}  crashes")
    for name in args.targets.split(","):
        corpus, artifacts = work / name / "corpus", work / name / "artifacts"
        shutil.rmtree(work / name, ignore_errors=True)
        shutil.copytree(CORPUS / name, corpus)
        artifacts.mkdir(parents=True)
        seeded = _fuzz(name, corpus, artifacts, ["-runs=0"])
        seed_cov = _last(r"INITED cov: (\d+)", seeded) or _last(r"cov: (\d+)", seeded)
        log = _fuzz(name, corpus, artifacts, [f"-max_total_time={int(args.minutes * 60)}",
                                              f"-rss_limit_mb={args.rss_mb}"])
        cov = _last(r"cov: (\d+)", log)
        found = sorted(p.name for p in artifacts.iterdir())
        crashed.extend(f"{name}: {artifacts / f}" for f in found)
        ratio = f"{cov / seed_cov:.2f}x" if seed_cov else "n/a"
        speed = _last(r"stat::average_exec_per_sec:\s+(\d+)", log)
        new = _last(r"stat::new_units_added:\s+(\d+)", log)
        rss = _last(r"stat::peak_rss_mb:\s+(\d+)", log)
        print(f"{name:18} {seed_cov:8} {ratio:>9} {speed:8} {new:6} {rss:7}  {len(found)}",
              flush=True)
        if "atheris cannot be imported" in log:
            print("  (no atheris: random mutations without coverage)", flush=True)
    if crashed:
        print("crashes (inputs kept):\n  " + "\n  ".join(crashed))
    if args.keep is None and not crashed:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
