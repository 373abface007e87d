"""The whole `station import` next to what an operator would otherwise run, on the same inputs.

Not a test: prints figures, each a ratio against a reference measured in the same run, and the
peak memory of every `station import`. The station's side is always the whole transfer:
verify (signatures, every byte hashed, staged), two scripted approvals, import. Its
references:

- image, 2 GiB single-layer `docker save` archive:
  - store:    `skopeo copy docker-archive:A oci:DIR:REF` alone, and the operator's pipeline
              `sha256sum -c SHA256SUMS && minisign -V ... && skopeo copy ...`
  - engine:   `docker load -i A` alone, and `sha256sum -c && minisign -V && docker load`
  - registry: `skopeo copy docker-archive:A docker://REG/...` alone, and the same pipeline
- files, 8 GiB in 1 GiB files: `cp -r` alone and `cp -r && sync` (the station's copy is on
  disk, fsynced, before it says done; `cp` leaves gigabytes in the page cache)
- a multi-image bundle, 14 GiB: the store import's time and peak memory.

Content does not compress (as real layers, mostly compressed already, do not), so tools that
gzip on the way are not flattered. Before each measurement the disk is synced and the inputs
are read once, so every side reads from the page cache; each side runs `--repeat` times
(default 2) in alternating order and its fastest run counts, because a shared machine's disk
slows down for a while after gigabytes were written, whoever wrote them. Each station line
also splits the station's time into its phases (from its audit log): verify (the one read
of the media: hash, stage, checks) and import (the target's part after the approvals).
Run as root (dockerd):
`.venv/bin/python benchmarks/transfer_speed.py [--scale 0.25] [--only ...] [--repeat N]`.
`--scale` shrinks every size (0.25: 512 MiB image, 2 GiB of files, 3.5 GiB bundle).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from station.progress import format_size
from station.publish import minisign_keys
from station.publish.bundle import create_bundle
from tests.builders import Signer, make_signer, scripted_approvals
from tests.importing_builders import Keystream, big_docker_archive
from tests.real.servers import start_dockerd, start_registry

GIB = 1024**3
ROOT = Path(__file__).resolve().parent.parent

# Runs `station ...` and prints its own peak RSS last on stderr (ru_maxrss of the import
# process itself, measured inside it so the benchmark's memory cannot leak in).
_MEASURED = """
import resource, sys
from station.cli.main import main
code = main(sys.argv[1:])
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
sys.stderr.write("peak_rss_bytes %d\\n" % peak)
sys.exit(code)
"""


def timed(action: Callable[[], object]) -> float:
    start = time.monotonic()
    action()
    return time.monotonic() - start


def in_turn(*actions: Callable[[], object]) -> Callable[[], None]:
    """One action doing several in order (a pipeline an operator types with `&&`)."""
    def every() -> None:
        for action in actions:
            action()
    return every


def run(command: list[str], **kwargs: object) -> None:
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, **kwargs)  # type: ignore[call-overload]


def warm(folder: Path) -> None:
    """Read every file once, so each side of a comparison finds the input in the page cache."""
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as handle:
                while handle.read(8 << 20):
                    pass


def sync() -> None:
    run(["sync"])


def sums_and_signature(media: Path, signer: Signer) -> None:
    """SHA256SUMS and its minisign signature beside bundle.json: the operator's own check."""
    files = sorted(p for p in media.rglob("*") if p.is_file()
                   and p.name not in ("SHA256SUMS", "SHA256SUMS.minisig"))
    result = subprocess.run(["sha256sum", *[str(p.relative_to(media)) for p in files]],
                            cwd=media, capture_output=True, text=True, check=True)
    (media / "SHA256SUMS").write_text(result.stdout)
    key = minisign_keys.load_secret_key(signer.secret)
    (media / "SHA256SUMS.minisig").write_bytes(
        minisign_keys.sign((media / "SHA256SUMS").read_bytes(), key, "bench"))


def manual_check(media: Path, signer: Signer) -> None:
    """What an operator runs before trusting the media: checksums, then the signature."""
    run(["sha256sum", "--quiet", "-c", "SHA256SUMS"], cwd=media)
    run(["minisign", "-Vq", "-m", "SHA256SUMS", "-p", str(signer.public)], cwd=media)


@dataclass(frozen=True)
class Run:
    """One whole `station import`: its time, peak memory and phases from its audit log."""

    seconds: float
    peak: int
    verify: float  # reading the media once: hash, stage, check (bundle-opened → verification)
    load: float  # the target's part after the approvals (first import-step → import-done)


def phases(home: Path) -> tuple[float, float]:
    """Verify and import durations, from the audit record times of the run."""
    times: dict[str, datetime] = {}
    for raw in (home / "audit.log").read_text().splitlines():
        record = json.loads(raw)
        event = record["event"]
        if event == "import-step" and "import-step" in times:
            continue
        times.setdefault(event, datetime.fromisoformat(record["time"].replace("Z", "+00:00")))
    verify = times["verification"] - times["bundle-opened"]
    load = times["import-done"] - times["import-step"]
    return verify.total_seconds(), load.total_seconds()


def station_import(home: Path, media: Path, trust: Path, to: str) -> Run:
    """The whole `station import`: seconds, its peak RSS and its phases."""
    approvals = scripted_approvals(home, media)
    argv = ["--home", str(home), "import", str(media), "--trust", str(trust), "--to", to,
            "--approvals", str(approvals)]
    sync()
    warm(media)
    start = time.monotonic()
    result = subprocess.run([sys.executable, "-c", _MEASURED, *argv], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT, check=False)
    elapsed = time.monotonic() - start
    if result.returncode != 0:
        raise SystemExit(f"station import --to {to} failed:\n{result.stderr}")
    peak = int(result.stderr.strip().splitlines()[-1].split()[-1])
    return Run(elapsed, peak, *phases(home))


def line(label: str, run: Run, references: dict[str, float]) -> None:
    """The whole import against each reference; then its phases, the target's against the
    first reference (the tool alone does the same job as the import phase)."""
    ratios = "   ".join(f"{name} {seconds:6.2f} s (ratio {run.seconds / seconds:.2f})"
                        for name, seconds in references.items())
    print(f"{label:9} station import {run.seconds:6.2f} s, peak RSS {format_size(run.peak):>9}   "
          f"{ratios}")
    tool, seconds = next(iter(references.items()))
    print(f"{'':9} phases: verify {run.verify:6.2f} s, import {run.load:6.2f} s "
          f"(import alone vs {tool}: ratio {run.load / seconds:.2f})")


@contextlib.contextmanager
def dockerd_running() -> Iterator[str]:
    server = start_dockerd(Path(tempfile.mkdtemp(prefix="dkt-", dir="/tmp")))
    try:
        yield server.base_url
    finally:
        server.stop()
        shutil.rmtree(server.root, ignore_errors=True)


def tool(action: Callable[[], object], media: Path) -> Run:
    """A reference command's run from a warm page cache, shaped as the station's (no phases)."""
    sync()
    warm(media)
    return Run(timed(action), 0, 0.0, 0.0)


def alternate(repeat: int, sides: dict[str, Callable[[], Run]]) -> dict[str, Run]:
    """Each side `repeat` times, in turns (A B C, then C B A, ...); the fastest run counts.

    The disk of a shared machine slows down for a while after gigabytes were written, so
    whichever side runs right after a heavy writer loses; alternating spreads that evenly.
    """
    best: dict[str, Run] = {}
    order = list(sides)
    for turn in range(repeat):
        for name in order if turn % 2 == 0 else reversed(order):
            result = sides[name]()
            if name not in best or result.seconds < best[name].seconds:
                best[name] = result
    return best


def report(label: str, best: dict[str, Run]) -> None:
    station = best.pop("station")
    line(label, station, {name: run.seconds for name, run in best.items()})


def bench_image(work: Path, size: int, only: set[str], repeat: int) -> None:
    signer = make_signer(work / "keys-image")
    source = work / "source-image"
    source.mkdir()
    archive = big_docker_archive(source / "app.tar", "registry.example.org/bench/app:1", size,
                                 incompressible=True)
    media = work / "media-image"
    create_bundle(media, secret_key=signer.secret, image_archives=[archive], name="bench")
    sums_and_signature(media, signer)
    (tar,) = (media / "images").glob("*.tar")
    print(f"image: one docker save archive, {format_size(tar.stat().st_size)}")
    ref = "registry.example.org/bench/app:1"
    check = partial(manual_check, media, signer)

    def station(to: str, home: Path) -> Run:
        try:
            return station_import(home, media, signer.trust, to)
        finally:
            shutil.rmtree(home, ignore_errors=True)

    if "store" in only:
        out = work / "oci-out"

        def skopeo_store() -> None:
            run(["skopeo", "copy", "--quiet", f"docker-archive:{tar}", f"oci:{out}:app"])

        def store_tool(action: Callable[[], None]) -> Run:
            try:
                return tool(action, media)
            finally:
                shutil.rmtree(out, ignore_errors=True)

        report("store", alternate(repeat, {
            "skopeo copy": lambda: store_tool(skopeo_store),
            "sha256sum+minisign+skopeo": lambda: store_tool(in_turn(check, skopeo_store)),
            "station": lambda: station("store", work / "home-store"),
        }))

    if "engine" in only:
        with dockerd_running() as url:

            def load() -> None:
                run(["docker", "-H", url, "load", "-i", str(tar)])

            def forgetting(side: Callable[[], Run]) -> Run:
                try:
                    return side()
                finally:
                    subprocess.run(["docker", "-H", url, "image", "rm", "-f", ref],
                                   capture_output=True, check=False)

            report("engine", alternate(repeat, {
                "docker load": lambda: forgetting(lambda: tool(load, media)),
                "sha256sum+minisign+docker load":
                    lambda: forgetting(lambda: tool(in_turn(check, load), media)),
                "station": lambda: forgetting(
                    lambda: station(f"docker={url}", work / "home-engine")),
            }))

    if "registry" in only:
        registries = iter(range(1000))

        def with_registry(side: Callable[[str, str], Run]) -> Run:
            server = start_registry(work / f"registry-{next(registries)}")
            try:
                return side(server.address, server.url)
            finally:
                server.stop()
                shutil.rmtree(server.root, ignore_errors=True)

        def push(address: str) -> None:
            run(["skopeo", "copy", "--quiet", "--dest-tls-verify=false",
                 f"docker-archive:{tar}", f"docker://{address}/bench/app:1"])

        report("registry", alternate(repeat, {
            "skopeo copy": lambda: with_registry(
                lambda address, _: tool(partial(push, address), media)),
            "sha256sum+minisign+skopeo": lambda: with_registry(
                lambda address, _: tool(in_turn(check, partial(push, address)), media)),
            "station": lambda: with_registry(
                lambda _, url: station(f"registry={url}", work / "home-registry")),
        }))
    shutil.rmtree(media)
    shutil.rmtree(source)


def bench_files(work: Path, total: int, files: int, repeat: int) -> None:
    signer = make_signer(work / "keys-files")
    source = work / "source-files"
    source.mkdir()
    each = total // files
    for number in range(files):
        with open(source / f"part-{number:02}.bin", "wb") as out:
            pattern = Keystream(f"file {number}".encode(), each)
            while chunk := pattern.read(8 << 20):
                out.write(chunk)
    media = work / "media-files"
    create_bundle(media, secret_key=signer.secret, files=sorted(source.iterdir()),
                  name="files")
    shutil.rmtree(source)
    print(f"files: {files} files, {format_size(total)}")
    copy = work / "copy"

    def cp(durable: bool) -> Run:
        try:
            return tool(in_turn(lambda: run(["cp", "-r", str(media), str(copy)]),
                                sync if durable else lambda: None), media)
        finally:
            shutil.rmtree(copy, ignore_errors=True)

    def station() -> Run:
        try:
            return station_import(work / "home-files", media, signer.trust, "store")
        finally:
            shutil.rmtree(work / "home-files", ignore_errors=True)

    report("files", alternate(repeat, {
        "cp -r": lambda: cp(False), "cp -r && sync": lambda: cp(True), "station": station,
    }))
    shutil.rmtree(media)


def bench_multi(work: Path, total: int, images: int) -> None:
    signer = make_signer(work / "keys-multi")
    source = work / "source-multi"
    source.mkdir()
    archives = [
        big_docker_archive(source / f"img{i}.tar", f"registry.example.org/bench/img{i}:1",
                           total // images, incompressible=True)
        for i in range(images)
    ]
    media = work / "media-multi"
    create_bundle(media, secret_key=signer.secret, image_archives=archives, name="multi")
    shutil.rmtree(source)
    print(f"multi: {images} images, {format_size(total)}")
    result = station_import(work / "home-multi", media, signer.trust, "store")
    print(f"multi     station import {result.seconds:6.2f} s, "
          f"{format_size(total / result.seconds)}/s, peak RSS {format_size(result.peak)} "
          "(target under 120 MB)")
    shutil.rmtree(work / "home-multi")
    shutil.rmtree(media)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every size")
    parser.add_argument("--only", default="store,engine,registry,files,multi",
                        help="comma-separated: store, engine, registry, files, multi")
    parser.add_argument("--work", default="/var/tmp", help="where to build (~3x the sizes)")
    parser.add_argument("--repeat", type=int, default=2,
                        help="runs of each side, in alternating order; the fastest counts")
    args = parser.parse_args()
    only = set(args.only.split(","))
    work = Path(tempfile.mkdtemp(prefix="transfer-bench-", dir=args.work))
    try:
        if only & {"store", "engine", "registry"}:
            bench_image(work, int(2 * GIB * args.scale), only, args.repeat)
        if "files" in only:
            bench_files(work, int(8 * GIB * args.scale), 8, args.repeat)
        if "multi" in only:
            bench_multi(work, int(14 * GIB * args.scale), 7)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
