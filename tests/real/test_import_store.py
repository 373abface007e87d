"""The embedded store with real tools and real faults: skopeo reads it, a full disk and a
killed import leave it consistent, and a retry finishes without copying finished images again."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from station.importing.base import ImportFailed, StepEvent
from station.importing.layout import StoreFull
from station.importing.store import StoreTarget
from station.publish.bundle import create_bundle
from tests.builders import make_signer, scripted_approvals
from tests.importing_builders import (
    APP,
    DB,
    TOOL,
    big_docker_archive,
    docker_archive,
    oci_archive,
    stage,
)
from tests.real.tmpfs import small_tmpfs

pytestmark = [pytest.mark.real, pytest.mark.usefixtures("need_skopeo")]

REF_NAME = "org.opencontainers.image.ref.name"


def _refs(store: Path) -> list[str]:
    index = json.loads((store / "index.json").read_text())
    return [m["annotations"][REF_NAME] for m in index["manifests"]]


def _skopeo(*args: str) -> bytes:
    return subprocess.run(["skopeo", *args], check=True, capture_output=True).stdout


def test_skopeo_reads_and_copies_every_image_the_store_holds(tmp_path: Path) -> None:
    staging = tmp_path / "staging"
    staging.mkdir()
    oci_archive(tmp_path, staging / "apps.tar", {APP: 4000, DB: 9000})
    docker_archive(tmp_path, staging / "tool.tar", TOOL, 5000)  # legacy docker save format
    staged = stage(staging)
    store = tmp_path / "store"
    target = StoreTarget(store, tmp_path / "home")

    receipt = target.run(target.plan(staged))

    verified = {i.references[0]: i for entry in staged.images for i in entry.images}
    assert sorted(_refs(store)) == sorted([APP, DB, TOOL])
    for image in receipt.images:
        reference = image.references[0]
        raw = _skopeo("inspect", "--raw", f"oci:{store}:{reference}")
        assert json.loads(raw)["config"]["digest"] == verified[reference].config_digest
        assert image.manifest_digest == verified[reference].manifest_digest
        out = tmp_path / reference.replace("/", "_").replace(":", "_")
        _skopeo("copy", "--quiet", f"oci:{store}:{reference}", f"oci:{out}:x")
        config = json.loads(_skopeo("inspect", "--config", "--raw", f"oci:{out}:x"))
        assert config["rootfs"]["diff_ids"]  # a complete image came out


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """An 8 MiB tmpfs (needs root); unmounted afterwards."""
    with small_tmpfs(tmp_path / "small", "size=8m") as mount:
        yield mount


def test_a_full_disk_ends_in_a_clear_error_and_a_retry_finishes(
    tmp_path: Path, small_fs: Path
) -> None:
    staging = tmp_path / "staging"
    staging.mkdir()
    big_docker_archive(staging / "a.tar", APP, 2 * 1024 * 1024)
    big_docker_archive(staging / "b.tar", DB, 3 * 1024 * 1024)
    staged = stage(staging)
    target = StoreTarget(small_fs / "store", tmp_path / "home")
    plan = target.plan(staged)  # enough space now
    filler = small_fs / "filler"

    def fill_after_first(event: StepEvent) -> None:
        if event.status == "done" and not filler.exists():
            filler.write_bytes(b"\0" * (4 * 1024 * 1024))  # someone else used the disk

    with pytest.raises(StoreFull, match="no space left") as failure:
        target.run(plan, on_step=fill_after_first)

    assert failure.value.hint and "finished images are kept" in failure.value.hint
    assert _refs(small_fs / "store") == [APP]
    assert not list((small_fs / "store").rglob(".partial-*"))
    filler.unlink()
    details: list[str] = []
    receipt = target.run(target.plan(staged), on_step=lambda e: details.append(e.detail))
    assert sorted(_refs(small_fs / "store")) == sorted([APP, DB])
    assert [i.bytes_copied > 0 for i in receipt.images] == [False, True]
    assert "already in the store" in details


def test_a_plan_refuses_a_store_without_room(tmp_path: Path, small_fs: Path) -> None:
    staging = tmp_path / "staging"
    staging.mkdir()
    big_docker_archive(staging / "a.tar", APP, 12 * 1024 * 1024)
    with pytest.raises(ImportFailed, match="not enough space"):
        StoreTarget(small_fs / "store", tmp_path / "home").plan(stage(staging))
    assert not (small_fs / "store" / "index.json").exists()


def test_an_import_killed_mid_staging_leaves_a_valid_index_and_a_retry_completes(
    tmp_path: Path,
) -> None:
    signer = make_signer(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    small = big_docker_archive(work / "a.tar", APP, 64 * 1024)
    big = big_docker_archive(work / "b.tar", DB, 200 * 1024 * 1024)
    media = tmp_path / "media"
    create_bundle(media, secret_key=signer.secret, image_archives=[small, big], name="kill")
    home = tmp_path / "home"
    store = home / "store"
    approvals = scripted_approvals(home, media)
    command = [
        sys.executable, "-m", "station.cli.main", "--home", str(home),
        "import", str(media), "--trust", str(signer.trust), "--to", "store",
        "--approvals", str(approvals),
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    killed = False
    staging = home / "staging"
    while time.monotonic() < deadline and process.poll() is None:
        partial = list(staging.rglob(".partial-*")) if staging.exists() else []
        if partial:  # the big layer is being written while it is hashed
            process.send_signal(signal.SIGKILL)
            killed = True
            break
        time.sleep(0.002)
    process.wait()
    assert killed, "the import finished before it could be killed"

    # nothing is named before verification and approvals
    assert not (store / "index.json").exists() or _refs(store) == []
    result = subprocess.run(command, capture_output=True, text=True, check=False)

    assert result.returncode == 0, result.stderr
    assert sorted(_refs(store)) == sorted([APP, DB])
    assert not list(home.rglob(".partial-*"))
    assert not list(staging.iterdir())
