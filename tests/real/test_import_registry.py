"""Push into a real docker-registry on 127.0.0.1: read back, a registry that is down, and one
killed mid-push whose retry finishes without pushing finished images again."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from station.config import RegistryTargetSection
from station.errors import StationError
from station.importing.base import ImportFailed, StepEvent
from station.importing.registry import RegistrySettings, RegistryTarget
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
from tests.real.servers import (
    Registry,
    free_port,
    make_tls,
    start_registry,
    write_htpasswd,
)

pytestmark = [pytest.mark.real, pytest.mark.usefixtures("need_skopeo")]


def _target(url: str, tmp_path: Path) -> RegistryTarget:
    return RegistryTarget(
        RegistrySettings.from_config(url, RegistryTargetSection()),
        work_dir=tmp_path / "work",
        home=tmp_path / "home",
    )


def _raw(name: str) -> bytes:
    return subprocess.run(
        ["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{name}"],
        check=True,
        capture_output=True,
    ).stdout


def _bundle(tmp_path: Path) -> Path:
    staging = tmp_path / "staging"
    staging.mkdir()
    oci_archive(tmp_path, staging / "apps.tar", {APP: 3000, DB: 8000})
    docker_archive(tmp_path, staging / "tool.tar", TOOL, 5000)
    oci_layout(staging / "layout", {"example.org/plain/thing:9": 2000})
    return staging


def test_every_image_is_pushed_and_read_back_with_the_verified_digests(
    registry: Registry, tmp_path: Path
) -> None:
    staged = stage(_bundle(tmp_path))
    target = _target(registry.url, tmp_path)
    details: list[str] = []

    receipt = target.run(target.plan(staged), on_step=lambda e: details.append(e.detail))

    verified = {i.references[0]: i for entry in staged.images for i in entry.images}
    assert len(receipt.images) == 4
    for image in receipt.images:
        (name,) = image.references
        raw = _raw(name)
        assert "sha256:" + hashlib.sha256(raw).hexdigest() == image.manifest_digest
        source = next(v for ref, v in verified.items() if ref.split("/", 1)[1] in name)
        assert json.loads(raw)["config"]["digest"] == source.config_digest
        assert image.manifest_digest == source.manifest_digest  # the staged manifest, as is
    assert f"{registry.address}/ops/app:1.2" in {i.references[0] for i in receipt.images}
    assert details.count("pushed") == 4

    again: list[str] = []
    target.run(target.plan(staged), on_step=lambda e: again.append(e.detail))
    assert again.count("already in the registry") == 4


def test_a_registry_that_is_down_is_reported_before_anything_moves(tmp_path: Path) -> None:
    staged = stage(_bundle(tmp_path))
    target = _target(f"http://127.0.0.1:{free_port()}", tmp_path)

    with pytest.raises(ImportFailed, match="does not answer") as failure:
        target.plan(staged)
    assert failure.value.hint


def test_plain_http_to_a_network_address_is_refused_unless_marked_insecure() -> None:
    with pytest.raises(StationError, match="plain http"):
        RegistrySettings.from_config("http://mirror.example.org:5000", RegistryTargetSection())
    settings = RegistrySettings.from_config(
        "http://mirror.example.org:5000", RegistryTargetSection(insecure=True)
    )
    assert not settings.verify_tls
    default = RegistrySettings.from_config("mirror.example.org", RegistryTargetSection())
    assert default.verify_tls


def test_a_registry_killed_mid_push_fails_clearly_and_a_retry_skips_finished_images(
    registry: Registry, tmp_path: Path
) -> None:
    staged = stage(_bundle(tmp_path))
    target = _target(registry.url, tmp_path)
    plan = target.plan(staged)
    started: list[StepEvent] = []

    def kill_on_second_image(event: StepEvent) -> None:
        if event.status == "started":
            started.append(event)
            if len(started) == 2:
                registry.kill()

    with pytest.raises(ImportFailed) as failure:
        target.run(plan, on_step=kill_on_second_image)
    assert "127.0.0.1" in failure.value.message
    assert failure.value.hint and "import again" in failure.value.hint

    registry.start()  # same port, same storage
    details: list[str] = []
    receipt = target.run(target.plan(staged), on_step=lambda e: details.append(e.detail))

    assert details[:2] == ["", "already in the registry"]
    assert details.count("pushed") == 3
    for image in receipt.images:
        assert json.loads(_raw(image.references[0]))["config"]["digest"] == image.config_digest


def test_a_registry_killed_while_a_blob_is_uploading_fails_and_a_retry_completes(
    registry: Registry, tmp_path: Path
) -> None:
    staging = tmp_path / "staging"
    staging.mkdir()
    big_docker_archive(staging / "big.tar", "example.org/big/app:1", 120 * 1024 * 1024)
    staged = stage(staging)
    target = _target(registry.url, tmp_path)
    plan = target.plan(staged)
    uploads = registry.root / "data" / "docker" / "registry" / "v2" / "repositories"
    killed = threading.Event()

    def kill_once_bytes_arrive() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not killed.is_set():
            if any(p.stat().st_size > 0 for p in uploads.glob("big/app/_uploads/*/data")):
                registry.kill()
                killed.set()
            time.sleep(0.005)

    watcher = threading.Thread(target=kill_once_bytes_arrive)
    watcher.start()
    try:
        with pytest.raises(ImportFailed, match=r"pushing to .*big/app:1 failed") as failure:
            target.run(plan)
    finally:
        killed.set()
        watcher.join()
    assert "?_state=" not in failure.value.message

    registry.start()
    (receipt,) = target.run(target.plan(staged)).images
    (image,) = staged.images[0].images
    assert json.loads(_raw(receipt.references[0]))["config"]["digest"] == image.config_digest


def test_https_with_a_ca_file_and_a_login_from_the_station_config(tmp_path: Path) -> None:
    if shutil.which("docker-registry") is None:
        pytest.skip("docker-registry is not installed")
    tls = make_tls(tmp_path / "tls")
    htpasswd = write_htpasswd(tmp_path / "htpasswd", "station", "s3cret pass")
    server = start_registry(tmp_path / "registry", tls=tls, htpasswd=htpasswd)
    try:
        (tmp_path / "password").write_text("s3cret pass\n")
        table = RegistryTargetSection(
            ca_file=str(tls.ca), username="station", password_file=str(tmp_path / "password")
        )
        staging = tmp_path / "staging"
        oci_layout(staging / "layout", {APP: 2000})
        staged = stage(staging)
        target = RegistryTarget(
            RegistrySettings.from_config(server.url, table),
            work_dir=tmp_path / "work", home=tmp_path / "home",
        )

        (receipt,) = target.run(target.plan(staged)).images

        assert receipt.manifest_digest == staged.images[0].images[0].manifest_digest
        assert not list((tmp_path / "work").iterdir())  # the auth file did not stay behind
        (tmp_path / "password").write_text("wrong\n")
        with pytest.raises(ImportFailed, match=r"unauthorized|authentication"):
            target.run(target.plan(staged))
        no_ca = RegistryTarget(
            RegistrySettings.from_config(server.url, RegistryTargetSection()),
            work_dir=tmp_path / "w",
            home=tmp_path,
        )
        assert "does not answer" in (no_ca.check() or "")
    finally:
        server.stop()


def test_media_changed_after_verification_still_pushes_the_verified_bytes(
    registry: Registry, tmp_path: Path
) -> None:
    media = tmp_path / "media"
    oci_layout(media / "layout", {APP: 3000, DB: 70_000})
    staged = stage(media)
    db = next(i for i in staged.images if i.references == (DB,)).images[0]
    for layer in db.layers:  # the stick changes after the verdict; nobody reads it now
        blob = media / "layout" / "blobs" / "sha256" / layer.digest.removeprefix("sha256:")
        blob.write_bytes(b"swapped after verification")
    target = _target(registry.url, tmp_path)

    receipt = target.run(target.plan(staged))

    pushed = next(i for i in receipt.images if i.config_digest == db.config_digest)
    assert pushed.manifest_digest == db.manifest_digest
    copy = tmp_path / "copy"
    subprocess.run(["skopeo", "copy", "--src-tls-verify=false",
                    f"docker://{pushed.references[0]}", f"oci:{copy}:x"],
                   check=True, capture_output=True)
    for layer in db.layers:  # what the registry serves is the verified layer, byte for byte
        served = copy / "blobs" / "sha256" / layer.digest.removeprefix("sha256:")
        assert hashlib.sha256(served.read_bytes()).hexdigest() == served.name


def test_a_push_shows_its_bytes_as_they_go(registry: Registry, tmp_path: Path) -> None:
    """skopeo prints no byte counts off a terminal: the bar follows what skopeo has read of
    the staged blobs, so a long push moves (rate and time left) instead of jumping at the
    end."""
    staging = tmp_path / "staging"
    staging.mkdir()
    big_docker_archive(staging / "big.tar", "example.org/moving/app:1", 192 * 1024 * 1024)
    staged = stage(staging)
    target = _target(registry.url, tmp_path)
    seen: list[Progress] = []

    (receipt,) = target.run(target.plan(staged), on_progress=seen.append).images

    total = staged.images[0].total_size
    done = [progress.done for progress in seen]
    assert any(0 < count < total for count in done), done  # moved while skopeo ran
    assert done == sorted(done) and done[-1] == total
    pushed = json.loads(_raw(receipt.references[0]))
    assert pushed["config"]["digest"] == staged.images[0].images[0].config_digest
