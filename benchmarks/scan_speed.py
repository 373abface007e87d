"""Scan speed: a 1 GiB image with 500 packages against 200 000 OSV records (issue 14, item 6).

Builds, in a temporary folder:
- three OSV exports (Debian, PyPI, npm) of synthetic but well-formed records, 200 000 in all,
  about 3 records naming each catalogued package and the rest naming other packages;
- an OCI image of about 1 GiB in three layers (tar+gzip, tar+zstd, plain tar): a dpkg status
  of 300 packages, 100 Python dist-info folders, 100 npm packages and incompressible files.

Then runs the scan in a child process (`scan_layout`, as `station scan oci:DIR` does) and
prints its wall time and peak RSS against the target (10 s, 200 MB), and, as the reference
measured in the same run, GNU tar listing the same layer blobs (decompress and walk headers).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from station.scan.vulndb import VulnDB
from tests.scan_builders import build_image, dpkg_stanza, os_release

RECORDS = 200_000
DEB, PY, NPM = 300, 100, 100
BULK_FILE = 4 * 1024 * 1024
LAYERS = (("gzip", 256), ("zstd", 384), ("tar", 384))  # MiB of bulk files per layer
TARGET_SECONDS, TARGET_MB = 10.0, 200


def record(n: int, ecosystem: str, name: str, fixed: str, kind: str = "ECOSYSTEM") -> dict:
    return {
        "schema_version": "1.6.0", "id": f"BENCH-{n:06d}", "modified": "2026-07-01T00:00:00Z",
        "aliases": [f"CVE-2026-{n:05d}"], "summary": f"synthetic record {n}",
        "affected": [{"package": {"ecosystem": ecosystem, "name": name},
                      "ranges": [{"type": kind, "events": [{"introduced": "0"},
                                                            {"fixed": fixed}]}]}],
        "severity": [{"type": "CVSS_V3",
                      "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:N"}],
    }


def exports(folder: Path) -> list[Path]:
    rng = random.Random(14)
    plans = {
        "Debian": ("Debian:12", [f"deb{i:03d}" for i in range(DEB)], "2.0-1"),
        "PyPI": ("PyPI", [f"py{i:03d}" for i in range(PY)], "2.0"),
        "npm": ("npm", [f"npm{i:03d}" for i in range(NPM)], "2.0.0"),
    }
    shares = {"Debian": RECORDS // 2, "PyPI": RECORDS // 4, "npm": RECORDS // 4}
    paths, n = [], 0
    for ecosystem, (name_eco, names, fixed) in plans.items():
        path = folder / f"{ecosystem}-all.zip"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            for i in range(shares[ecosystem]):
                n += 1
                # about 3 records per catalogued package, the rest about other packages
                ours = i < 3 * len(names)
                name = names[i % len(names)] if ours else f"other{rng.randrange(10**6)}"
                kind = "SEMVER" if ecosystem == "npm" else "ECOSYSTEM"
                doc = record(n, name_eco, name, fixed, kind)
                archive.writestr(f"{doc['id']}.json", json.dumps(doc))
        paths.append(path)
    return paths


def bulk(tag: str, mib: int) -> dict[str, bytes]:
    return {f"opt/{tag}/blob{i:04d}.bin": os.urandom(BULK_FILE)
            for i in range(mib * 1024 * 1024 // BULK_FILE)}


def image(layout: Path) -> int:
    status = "\n".join(dpkg_stanza(f"deb{i:03d}", "1.0-1") for i in range(DEB)).encode()
    python = {f"usr/lib/python3/dist-packages/py{i:03d}-1.0.dist-info/METADATA":
              f"Metadata-Version: 2.1\nName: py{i:03d}\nVersion: 1.0\n".encode()
              for i in range(PY)}
    npm = {f"srv/app/node_modules/npm{i:03d}/package.json":
           json.dumps({"name": f"npm{i:03d}", "version": "1.0.0"}).encode() for i in range(NPM)}
    layers = [
        {"etc/os-release": os_release("debian", "12"), "var/lib/dpkg/status": status,
         **python, **bulk("a", LAYERS[0][1])},
        {**npm, **bulk("b", LAYERS[1][1])},
        bulk("c", LAYERS[2][1]),
    ]
    built = build_image(layout, "bench:1", layers, compression=[kind for kind, _ in LAYERS])
    return len(built.layer_digests)


CHILD = """
import sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[3])
start = time.perf_counter()
from station.scan.scanner import scan_layout
from station.scan.vulndb import VulnDB
report = scan_layout(Path(sys.argv[1]), None, VulnDB(Path(sys.argv[2])))
(image,) = report.images
elapsed = time.perf_counter() - start
# VmHWM: the peak RSS of this process image (not of the parent it was forked from).
peak_kb = next(int(line.split()[1]) for line in open("/proc/self/status")
               if line.startswith("VmHWM:"))
print(len(image.packages), len(image.vulnerabilities), len(image.problems), elapsed, peak_kb)
"""


def main() -> None:
    root = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory(prefix="scan-bench-") as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        zips = exports(folder)
        made = time.perf_counter() - started
        db = VulnDB(folder / "home")
        started = time.perf_counter()
        for path in zips:
            db.install(path, bundle_digest="sha256:" + "0" * 64)
        installed = time.perf_counter() - started
        records = sum(e.records for e in db.status().ecosystems)
        layout = folder / "oci"
        image(layout)
        blobs = sorted((layout / "blobs" / "sha256").iterdir(), key=lambda p: p.stat().st_size)
        size = sum(p.stat().st_size for p in blobs)
        print(f"records: {records} (exports written in {made:.1f} s, installed in "
              f"{installed:.1f} s); image blobs: {size / 2**30:.2f} GiB")

        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", CHILD, str(layout), str(folder / "home"), str(root)],
            capture_output=True, text=True, check=True)
        wall = time.perf_counter() - started
        packages, vulns, problems, inner, peak_kb = done.stdout.split()
        peak_mb = int(peak_kb) / 1024

        index = json.loads((layout / "index.json").read_bytes())
        digest = index["manifests"][0]["digest"].removeprefix("sha256:")
        manifest = json.loads((layout / "blobs" / "sha256" / digest).read_bytes())
        started = time.perf_counter()
        for layer in manifest["layers"]:
            blob = layout / "blobs" / "sha256" / layer["digest"].removeprefix("sha256:")
            flag = {"gzip": ["-z"], "zstd": ["--zstd"]}.get(layer["mediaType"].rsplit("+", 1)[-1],
                                                             [])
            subprocess.run(["tar", *flag, "-tf", str(blob)], check=True,
                           stdout=subprocess.DEVNULL)
        reference = time.perf_counter() - started

        print(f"scan: {packages} packages, {vulns} vulnerabilities, {problems} problems")
        print(f"scan wall time {wall:.2f} s (in-process {float(inner):.2f} s), "
              f"peak RSS {peak_mb:.0f} MB")
        print(f"reference, GNU tar listing the same layers: {reference:.2f} s; "
              f"scan / tar = {wall / reference:.2f}x")
        ok = wall < TARGET_SECONDS and peak_mb < TARGET_MB
        print(f"target under {TARGET_SECONDS:.0f} s and {TARGET_MB} MB: "
              f"{'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
