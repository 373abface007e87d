"""Speed of a whole `station verify` run against `openssl dgst -sha256` on the same files.

Prints two ratios (lower is better; 1.0 = as fast as OpenSSL hashing the files one after the
other) and the peak memory of the station process:
  one 1 GiB file          target: within 1.15x of `openssl dgst -sha256 FILE`
  two 512 MiB files       target: within 0.65x of `openssl dgst -sha256 A B`
Each command runs 3 times on files already in the page cache; the best time counts.
Usage: .venv/bin/python benchmarks/hash_speed.py [--dir DIR]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from station.publish import minisign_keys

MiB = 1024 * 1024


# As installed, the station runs from cached bytecode; without it every run would compile
# its modules first and measure the compiler, not the station.
_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _best_of(command: list[str], runs: int = 3) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=_ENV)
        best = min(best, time.perf_counter() - started)
    return best


def _make_bundle(root: Path, sizes: dict[str, int], secret: Path) -> list[Path]:
    root.mkdir()
    lines = []
    paths = []
    for name, size in sizes.items():
        path = root / name
        with path.open("wb") as handle:
            for _ in range(size // (16 * MiB)):
                handle.write(os.urandom(16 * MiB))
        digest = subprocess.run(
            ["openssl", "dgst", "-sha256", "-r", str(path)], capture_output=True, text=True,
            check=True,
        ).stdout.split()[0]
        lines.append(f"{digest}  {name}\n")
        paths.append(path)
    sums = root / "SHA256SUMS"
    sums.write_text("".join(lines))
    key = minisign_keys.load_secret_key(secret)
    (root / "SHA256SUMS.minisig").write_bytes(minisign_keys.sign(sums.read_bytes(), key, "bench"))
    return paths


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", help="where to write 2 GiB of test files (default: a temp dir)")
    args = parser.parse_args()
    station = str(Path(sys.executable).with_name("station"))
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        base = Path(tmp)
        secret, public = minisign_keys.generate_keypair("bench", base)
        trust = base / "trust"
        trust.mkdir()
        (trust / public.name).write_bytes(public.read_bytes())
        cases = {
            "one 1 GiB file": ({"big.bin": 1024 * MiB}, 1.15),
            "two 512 MiB files": ({"a.bin": 512 * MiB, "b.bin": 512 * MiB}, 0.65),
        }
        failed = False
        for label, (sizes, target) in cases.items():
            root = base / label.replace(" ", "-")
            paths = _make_bundle(root, sizes, secret)
            verify = [station, "verify", str(root), "--trust", str(trust), "--home", tmp]
            station_time = _best_of(verify)
            openssl_time = _best_of(["openssl", "dgst", "-sha256", *map(str, paths)])
            ratio = station_time / openssl_time
            verdict = "ok" if ratio <= target else "SLOWER THAN TARGET"
            failed |= ratio > target
            print(
                f"{label:18}  station verify {station_time:6.3f} s   openssl {openssl_time:6.3f} s"
                f"   ratio {ratio:4.2f}x (target <= {target}x) {verdict}"
            )
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(f"peak memory of any child process (station verify dominates): {peak:.0f} MiB")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
