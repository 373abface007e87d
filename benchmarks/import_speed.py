"""How fast import is next to the tools operators would otherwise use, and how much memory.

Not a test: prints figures. Starts a private dockerd and docker-registries (the same helpers the
tests use), builds legacy docker-archives of `--size-mib` each (uncompressed layers, as
`docker save` writes them), then times for the same archive:

- engine:   `docker load -i ARCHIVE`  vs  DockerEngineTarget.run  (ID check and tagging included)
- registry: `skopeo copy docker-archive:ARCHIVE docker://...`  vs  RegistryTarget.run
            (read-back and digest checks included); each into a fresh, empty registry
- the whole `station import` of a signed bundle of all archives (verify + stage + import)
  into each target, with the peak RSS of that process (ru_maxrss, read inside it)

Run as root (dockerd): `.venv/bin/python benchmarks/import_speed.py [--size-mib 1024]`.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import docker

from station.importing.docker_engine import DockerEngineTarget
from station.importing.registry import RegistrySettings, RegistryTarget
from station.progress import format_size
from station.publish.bundle import create_bundle
from tests.builders import make_signer, scripted_approvals
from tests.importing_builders import big_docker_archive, stage
from tests.real.servers import start_dockerd, start_registry


def timed(action: Callable[[], object]) -> float:
    start = time.monotonic()
    action()
    return time.monotonic() - start


def run(command: list[str]) -> None:
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)


def bench_engine(work: Path, staging: Path) -> tuple[float, float]:
    dockerd = start_dockerd(Path(tempfile.mkdtemp(prefix="dkb-", dir="/tmp")))
    try:
        client = docker.DockerClient(base_url=dockerd.base_url, timeout=3600)
        staged = stage(staging)
        ids = [image.config_digest for item in staged.items for image in item.images]

        def forget() -> None:
            for image_id in ids:
                with contextlib.suppress(docker.errors.ImageNotFound):
                    client.images.remove(image_id, force=True)

        forget()
        docker_load = sum(
            timed(lambda a=a: run(["docker", "-H", dockerd.base_url, "load", "-i", str(a)]))
            for a in sorted(staging.glob("*.tar"))
        )
        forget()
        target = DockerEngineTarget(dockerd.base_url, work_dir=work / "w", home=work / "home")
        station = timed(lambda: target.run(target.plan(staged)))
        forget()
        return docker_load, station
    finally:
        dockerd.stop()
        shutil.rmtree(dockerd.root, ignore_errors=True)


def bench_registry(work: Path, staging: Path) -> tuple[float, float]:
    staged = stage(staging)
    first = start_registry(work / "reg-skopeo")
    try:
        def skopeo_all() -> None:
            for item in staged.items:
                for image in item.images:
                    name = image.references[0].split("/", 1)[1]
                    run(["skopeo", "copy", "--quiet", "--dest-tls-verify=false",
                         f"docker-archive:{staging / item.path}",
                         f"docker://{first.address}/{name}"])

        skopeo = timed(skopeo_all)
    finally:
        first.stop()
    second = start_registry(work / "reg-station")
    try:
        target = RegistryTarget(
            RegistrySettings.from_config(second.url, {}), work_dir=work / "w", home=work / "home"
        )
        station = timed(lambda: target.run(target.plan(staged)))
    finally:
        second.stop()
    return skopeo, station


def make_media(work: Path, staging: Path) -> tuple[Path, Path]:
    """A signed bundle of every archive; returns (media, trust folder)."""
    signer = make_signer(work)
    media = work / "media"
    create_bundle(media, secret_key=signer.secret,
                  image_archives=sorted(staging.glob("*.tar")), name="bench")
    return media, signer.trust


def bench_cli(work: Path, media: Path, trust: Path, to: str) -> tuple[float, int]:
    """`station import` end to end (verify + stage + import): seconds and peak RSS."""
    home = work / f"home-{to.split('=')[0]}"
    approvals = scripted_approvals(home, media)
    argv = ["--home", str(home), "import", str(media), "--trust", str(trust), "--to", to,
            "--approvals", str(approvals)]
    command = [sys.executable, "-c", _MEASURED_IMPORT, *argv]
    start = time.monotonic()
    result = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, cwd=Path(__file__).resolve().parent.parent, check=False)
    elapsed = time.monotonic() - start
    if result.returncode != 0:
        raise SystemExit(f"station import failed:\n{result.stderr}")
    peak = int(result.stderr.strip().splitlines()[-1].split()[-1])
    return elapsed, peak


# Runs `station ...` and prints its own peak RSS last on stderr: ru_maxrss (KiB) of the
# import process itself, measured inside it so the benchmark's own memory cannot leak in.
_MEASURED_IMPORT = """
import resource, sys
from station.cli.main import main
code = main(sys.argv[1:])
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
sys.stderr.write("peak_rss_bytes %d\\n" % peak)
sys.exit(code)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="size of each image")
    parser.add_argument("--images", type=int, default=2, help="how many images")
    parser.add_argument("--work", default="/var/tmp", help="where to build (needs ~8x space)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="import-bench-", dir=args.work))
    try:
        staging = work / "staging"
        staging.mkdir()
        refs = [f"registry.example.org/bench/img{i}:1" for i in range(args.images)]
        build = timed(lambda: [
            big_docker_archive(staging / f"img{i}.tar", ref, args.size_mib * 1024 * 1024)
            for i, ref in enumerate(refs)
        ])
        total = sum(p.stat().st_size for p in staging.glob("*.tar"))
        print(f"bundle: {args.images} legacy docker-archives, {format_size(total)} "
              f"(built in {build:.1f} s)")
        docker_load, engine = bench_engine(work, staging)
        print(f"engine:   docker load -i {docker_load:6.2f} s   station {engine:6.2f} s   "
              f"ratio {engine / docker_load:.2f}")
        skopeo, registry = bench_registry(work, staging)
        print(f"registry: skopeo copy    {skopeo:6.2f} s   station {registry:6.2f} s   "
              f"ratio {registry / skopeo:.2f}")
        media, trust = make_media(work, staging)
        dockerd = start_dockerd(Path(tempfile.mkdtemp(prefix="dkc-", dir="/tmp")))
        registry = start_registry(work / "reg-cli")
        try:
            for to in ("store", f"docker={dockerd.base_url}", f"registry={registry.url}"):
                elapsed, peak = bench_cli(work, media, trust, to)
                print(f"station import --to {to.split('=')[0]:8} (verify + stage + import) "
                      f"{elapsed:6.2f} s, {format_size(total / elapsed)}/s, "
                      f"peak RSS {format_size(peak)}")
        finally:
            registry.stop()
            dockerd.stop()
            shutil.rmtree(dockerd.root, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
