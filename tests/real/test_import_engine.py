"""Import into a real Docker engine (dockerd 20.10 on a private socket), and real `docker save`
output into all three targets, read back from each."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import tarfile
import threading
from pathlib import Path

import docker
import pytest

from station.config import RegistryTargetSection
from station.errors import Cancelled
from station.importing.base import ImportFailed, StepEvent
from station.importing.docker_engine import DockerEngineTarget
from station.importing.references import RetagRule
from station.importing.registry import RegistrySettings, RegistryTarget
from station.importing.store import StoreTarget
from station.progress import Progress
from tests.importing_builders import (
    APP,
    DB,
    TOOL,
    big_docker_archive,
    docker_archive,
    oci_archive,
    oci_layout,
    stage,
)
from tests.real.servers import Dockerd, Registry
from tests.scan_builders import build_image

pytestmark = [pytest.mark.real, pytest.mark.usefixtures("need_skopeo")]

MIRROR = (RetagRule("registry.example.org/ops/", "mirror.local/ops/"),)


def _engine(
    dockerd: Dockerd, tmp_path: Path, rules: tuple[RetagRule, ...] = ()
) -> DockerEngineTarget:
    return DockerEngineTarget(
        dockerd.base_url, work_dir=tmp_path / "work", home=tmp_path / "home", retag_rules=rules
    )


def _forget(client: docker.DockerClient, *config_digests: str) -> None:
    for digest in config_digests:
        with contextlib.suppress(docker.errors.ImageNotFound):
            client.images.remove(digest, force=True)


@pytest.fixture
def client(dockerd: Dockerd) -> docker.DockerClient:
    return docker.DockerClient(base_url=dockerd.base_url)


def test_oci_and_legacy_archives_load_verified_and_retagged(
    dockerd: Dockerd, client: docker.DockerClient, tmp_path: Path
) -> None:
    staging = tmp_path / "staging"
    staging.mkdir()
    oci_archive(tmp_path, staging / "apps.tar", {APP: 3000, DB: 6000})
    docker_archive(tmp_path, staging / "tool.tar", TOOL, 4000)
    staged = stage(staging)
    images = [i for entry in staged.images for i in entry.images]
    _forget(client, *(i.config_digest for i in images))
    target = _engine(dockerd, tmp_path, MIRROR)
    details: list[str] = []

    receipt = target.run(target.plan(staged), on_step=lambda e: details.append(e.detail))

    for image in images:
        loaded = client.images.get(image.config_digest)
        assert loaded.id == image.config_digest
        wanted = image.references[0].replace("registry.example.org/", "mirror.local/")
        assert loaded.tags == [wanted]  # retagged; the original name is not left behind
    assert {i.config_digest for i in receipt.images} == {i.config_digest for i in images}
    assert details.count("loaded") == 3
    assert not (tmp_path / "work").exists()  # streamed from the staged blobs: no work copy

    again: list[str] = []
    target.run(target.plan(staged), on_step=lambda e: again.append(e.detail))
    assert again.count("already in the engine") == 3


def test_an_engine_that_is_down_is_reported_before_anything_moves(tmp_path: Path) -> None:
    staging = tmp_path / "staging"
    staging.mkdir()
    oci_archive(tmp_path, staging / "apps.tar", {APP: 100})
    target = DockerEngineTarget(
        f"unix://{tmp_path}/no-engine.sock", work_dir=tmp_path / "work", home=tmp_path / "home"
    )

    assert "does not answer" in (target.check() or "")
    with pytest.raises(ImportFailed, match="does not answer") as failure:
        target.plan(stage(staging))
    assert failure.value.hint


def test_a_damaged_staged_layer_is_refused_by_the_engine_and_nothing_is_tagged(
    dockerd: Dockerd, client: docker.DockerClient, tmp_path: Path
) -> None:
    staging = tmp_path / "staging"
    staging.mkdir()
    docker_archive(tmp_path, staging / "tool.tar", "example.org/broken:1", 3000)
    staged = stage(staging)
    image = staged.images[0].images[0]
    _forget(client, image.config_digest)
    plan = _engine(dockerd, tmp_path).plan(staged)
    layer = staged.blob_path(image.layers[0].digest)
    data = bytearray(layer.read_bytes())  # the staged tar still reads, its content differs
    data[600] ^= 0xFF
    layer.write_bytes(bytes(data))  # the station's own disk damaged after verification

    with pytest.raises(ImportFailed, match=r"the Docker engine refused example\.org/broken:1"
                       ) as failure:
        _engine(dockerd, tmp_path).run(plan)
    assert failure.value.hint

    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get("example.org/broken:1")


@pytest.fixture(scope="module")
def saved_archive(dockerd: Dockerd, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real `docker save` output of Docker 20.10, for an image loaded from skopeo's archive."""
    work = tmp_path_factory.mktemp("saved")
    source = docker_archive(work, work / "source.tar", "example.org/saved/app:5", 20_000)
    client = docker.DockerClient(base_url=dockerd.base_url)
    with open(source, "rb") as handle:
        (image,) = client.images.load(handle.read())
    saved = work / "staging" / "saved.tar"
    saved.parent.mkdir()
    with open(saved, "wb") as out:
        for chunk in image.save(named=True):
            out.write(chunk)
    client.images.remove(image.id, force=True)
    return saved


def test_docker_save_output_lands_in_store_engine_and_registry(
    saved_archive: Path,
    dockerd: Dockerd,
    client: docker.DockerClient,
    registry: Registry,
    tmp_path: Path,
) -> None:
    staged = stage(saved_archive.parent)
    (image,) = staged.images[0].images
    assert image.references == ("example.org/saved/app:5",)

    store = tmp_path / "store"
    StoreTarget(store, tmp_path / "home").run(StoreTarget(store, tmp_path / "home").plan(staged))
    raw = subprocess.run(
        ["skopeo", "inspect", "--raw", f"oci:{store}:example.org/saved/app:5"],
        check=True, capture_output=True,
    ).stdout
    assert json.loads(raw)["config"]["digest"] == image.config_digest

    engine = _engine(dockerd, tmp_path)
    engine.run(engine.plan(staged))
    assert client.images.get("example.org/saved/app:5").id == image.config_digest

    pushed = RegistryTarget(
        RegistrySettings.from_config(registry.url, RegistryTargetSection()),
        work_dir=tmp_path / "w",
        home=tmp_path,
    )
    (receipt,) = pushed.run(pushed.plan(staged)).images
    assert receipt.references == (f"{registry.address}/saved/app:5",)
    raw = subprocess.run(
        ["skopeo", "inspect", "--raw", "--tls-verify=false",
         f"docker://{registry.address}/saved/app:5"],
        check=True, capture_output=True,
    ).stdout
    assert json.loads(raw)["config"]["digest"] == image.config_digest
    assert receipt.manifest_digest == image.manifest_digest  # the station's manifest, as is


def test_an_engine_stopped_mid_import_fails_clearly_and_a_retry_loads_only_the_rest(
    own_dockerd: Dockerd, tmp_path: Path,
) -> None:
    own = own_dockerd
    staging = tmp_path / "staging"
    staging.mkdir()
    oci_archive(tmp_path, staging / "apps.tar", {APP: 3000})
    docker_archive(tmp_path, staging / "tool.tar", TOOL, 4000)
    staged = stage(staging)
    target = _engine(own, tmp_path)
    plan = target.plan(staged)

    def stop_engine_at_second(event: StepEvent) -> None:
        if event.status == "started" and event.step.image is not plan.steps[0].image:
            own.stop()

    with pytest.raises(ImportFailed, match="does not answer") as failure:
        target.run(plan, on_step=stop_engine_at_second)
    assert failure.value.hint and "already loaded is checked and kept" in failure.value.hint

    own.start()
    details: list[str] = []
    retry = _engine(own, tmp_path)
    retry.run(retry.plan(staged), on_step=lambda e: details.append(e.detail))
    assert [d for d in details if d] == ["already in the engine", "loaded"]


def test_an_engine_killed_while_it_loads_is_a_target_error_and_a_retry_reconciles(
    own_dockerd: Dockerd, tmp_path: Path,
) -> None:
    """The engine dies (SIGKILL) while the station streams the image to it: the import fails
    with the engine's words and a hint, never an internal error; once the engine is back, a
    retry checks what the engine holds and finishes, tagging only the verified image."""
    own = own_dockerd
    media = tmp_path / "media"
    media.mkdir()
    big_docker_archive(media / "big.tar", "example.org/killed/app:1", 96 * 1024 * 1024)
    staged = stage(media)
    target = _engine(own, tmp_path)
    plan = target.plan(staged)
    killed: list[bool] = []

    def kill_engine(progress: Progress) -> None:
        if not killed and 0 < progress.done < progress.total:  # mid-stream
            killed.append(True)
            assert own.process is not None
            os.kill(own.process.pid, signal.SIGKILL)

    with pytest.raises(ImportFailed, match="does not answer") as failure:
        target.run(plan, on_progress=kill_engine)
    assert killed and failure.value.hint

    own.process.wait()  # type: ignore[union-attr]
    # A killed dockerd leaves its containerd's socket and pid files: start afresh.
    shutil.rmtree(own.root / "exec", ignore_errors=True)
    (own.root / "dockerd.pid").unlink(missing_ok=True)
    own.start()
    retry = _engine(own, tmp_path)
    (receipt,) = retry.run(retry.plan(staged)).images
    image = staged.images[0].images[0]
    client = docker.DockerClient(base_url=own.base_url)
    assert client.images.get("example.org/killed/app:1").id == image.config_digest
    assert receipt.config_digest == image.config_digest


def test_media_changed_after_verification_still_loads_the_verified_bytes(
    dockerd: Dockerd, client: docker.DockerClient, tmp_path: Path
) -> None:
    media = tmp_path / "media"
    oci_layout(media / "layout", {APP: 3000, DB: 70_000})
    staged = stage(media)
    images = [i for entry in staged.images for i in entry.images]
    _forget(client, *(i.config_digest for i in images))
    for image in images:  # the stick changes after the verdict; nobody reads it now
        for layer in image.layers:
            blob = media / "layout" / "blobs" / "sha256" / layer.digest.removeprefix("sha256:")
            blob.write_bytes(b"swapped after verification")
    target = _engine(dockerd, tmp_path)

    target.run(target.plan(staged))

    for image in images:  # the engine checks every layer against the config it loads
        assert client.images.get(image.config_digest).id == image.config_digest
        saved = b"".join(client.images.get(image.config_digest).save())
        assert b"swapped after verification" not in saved


def test_a_zstd_layer_reaches_the_engine_decompressed_and_runs_its_content(
    dockerd: Dockerd, client: docker.DockerClient, tmp_path: Path
) -> None:
    """Docker 20.10 cannot read zstd layers: the station sends the verified content
    decompressed, and the engine's own diff_id check accepts it."""
    media = tmp_path / "media"
    layers = [{"etc/motd": b"gzip layer\n"}, {"srv/payload.txt": b"zstd layer content\n"}]
    build_image(media / "app", "example.org/zstd/app:1", layers, compression=["gzip", "zstd"])
    staged = stage(media)
    image = staged.images[0].images[0]
    _forget(client, image.config_digest)
    target = _engine(dockerd, tmp_path)

    (receipt,) = target.run(target.plan(staged)).images

    assert client.images.get("example.org/zstd/app:1").id == image.config_digest
    assert receipt.bytes_copied == image.total_size
    with tarfile.open(fileobj=io.BytesIO(b"".join(client.images.get(image.config_digest)
                                                  .save()))) as saved:
        layer_tars = [name for name in saved.getnames() if name.endswith("layer.tar")]
        contents = [saved.extractfile(name).read() for name in layer_tars]  # type: ignore[union-attr]
    assert any(b"zstd layer content" in content for content in contents)


def test_a_load_stopped_by_the_operator_leaves_nothing_in_the_engine(
    dockerd: Dockerd, client: docker.DockerClient, tmp_path: Path
) -> None:
    """Stop pressed while the archive is on its way: the engine gets a short body and
    loads nothing; the same plan then loads in full."""
    media = tmp_path / "media"
    media.mkdir()
    big_docker_archive(media / "big.tar", "example.org/stopped/app:1", 64 * 1024 * 1024)
    staged = stage(media)
    image = staged.images[0].images[0]
    _forget(client, image.config_digest)
    target = _engine(dockerd, tmp_path)
    plan = target.plan(staged)
    stop = threading.Event()

    def press_stop(progress: Progress) -> None:
        if 0 < progress.done < progress.total:
            stop.set()

    with pytest.raises(Cancelled):
        target.run(plan, on_progress=press_stop, cancel=stop)
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get(image.config_digest)

    target.run(target.plan(staged))
    assert client.images.get("example.org/stopped/app:1").id == image.config_digest
