"""Run one fuzz target under atheris (libFuzzer): `python -m tests.fuzz.run TARGET [ARGS]`.

ARGS go to libFuzzer: give a corpus folder to grow (a copy of tests/fuzz/corpus/TARGET, so
the committed seeds stay as they are) and bounds such as `-max_total_time=20`. A crash (an
exception other than StationError, a disagreement between readers, a time-out, memory past
`-rss_limit_mb`) ends the run with a non-zero status and writes the input to
`-artifact_prefix`. Without atheris this prints why and exits with status 3.
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        import atheris
    except ImportError as exc:
        print(f"atheris cannot be imported here ({exc}): fuzzing with random mutations of "
              "the seeds instead, without coverage guidance; install atheris with "
              "`.venv/bin/pip install atheris` (Linux x86_64 wheels)", file=sys.stderr)
        return _fallback(argv[1], argv[2:])
    with atheris.instrument_imports(include=["station", "tests.reader_views"]):
        from tests.fuzz.targets import TARGETS
    name = argv[1]
    target = TARGETS.get(name)
    if target is None:
        print(f"unknown target {name!r}; targets: {', '.join(sorted(TARGETS))}",
              file=sys.stderr)
        return 2
    if name.startswith("tar_"):
        atheris.Setup([argv[0], *argv[2:]], target, custom_mutator=_tar_mutator(atheris))
    else:
        atheris.Setup([argv[0], *argv[2:]], target)
    atheris.Fuzz()
    return 0


def _fallback(name: str, args: list[str]) -> int:
    """Mutate the seeds at random for `-max_total_time` seconds; a crash is status 1."""
    import hashlib
    import random
    import time
    import traceback
    from pathlib import Path

    from tests.fuzz.targets import TARGETS
    from tests.strategies import fix_checksums

    options = dict(arg.lstrip("-").split("=", 1) for arg in args if arg.startswith("-"))
    folders = [Path(arg) for arg in args if not arg.startswith("-")]
    seeds = [p.read_bytes() for folder in folders for p in sorted(folder.iterdir())] or [b""]
    deadline = time.monotonic() + float(options.get("max_total_time", "10"))
    rng = random.Random(0)
    runs = 0
    while time.monotonic() < deadline:
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 8)):
            where = rng.randrange(len(data) + 1)
            roll = rng.random()
            if roll < 0.5 and data:
                data[where % len(data)] = rng.randrange(256)
            elif roll < 0.7:
                data[where:where] = rng.randbytes(rng.randint(1, 16))
            elif roll < 0.9:
                del data[where:where + rng.randint(1, 64)]
            else:
                data = data[:where]
        sample = fix_checksums(bytes(data)) if name.startswith("tar_") else bytes(data)
        runs += 1
        try:
            TARGETS[name](sample)
        except Exception:
            crash = Path(options.get("artifact_prefix", "")
                         + "crash-" + hashlib.sha1(sample).hexdigest())  # noqa: S324
            crash.write_bytes(sample)
            traceback.print_exc()
            print(f"crash after {runs} runs; input written to {crash}", file=sys.stderr)
            return 1
    print(f"Done {runs} runs (random mutations, no coverage guidance)", file=sys.stderr)
    return 0


def _tar_mutator(atheris: object):  # type: ignore[no-untyped-def]
    """libFuzzer's mutations, then most headers' checksums made right again: otherwise almost
    every mutated archive stops at its first checksum and the header parser is never fuzzed.
    """
    from tests.strategies import fix_checksums

    def mutate(data: bytes, max_size: int, seed: int) -> bytes:
        mutated = atheris.Mutate(data, max_size)  # type: ignore[attr-defined]
        return mutated if seed % 8 == 0 else fix_checksums(mutated)

    return mutate


if __name__ == "__main__":
    sys.exit(main(sys.argv))
