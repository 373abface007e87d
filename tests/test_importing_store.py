"""The embedded store: what lands is what was verified; twice costs nothing; bad bytes stay out.

Every bundle here goes through the real verification (signed, hashed, staged) first.
"""

from __future__ import annotations

import hashlib
import json
import os
import tarfile
import threading
from pathlib import Path

import pytest

from station.errors import Cancelled
from station.importing.base import ImportFailed, StepEvent
from station.importing.store import StoreTarget
from tests.importing_builders import (
    APP,
    DB,
    TOOL,
    big_docker_archive,
    oci_archive,
    oci_layout,
    stage,
    verify_media,
)


def _store(tmp_path: Path) -> StoreTarget:
    return StoreTarget(tmp_path / "home" / "store", tmp_path / "home")


def _index_refs(store: Path) -> dict[str, str]:
    index = json.loads((store / "index.json").read_text())
    return {
        m["annotations"]["org.opencontainers.image.ref.name"]: m["digest"]
        for m in index["manifests"]
    }


def test_images_land_under_their_references_with_the_verified_digests(tmp_path: Path) -> None:
    media = tmp_path / "media"
    oci_layout(media / "layout", {APP: 3000, DB: 70_000})
    oci_archive(tmp_path, media / "tool.tar", {TOOL: 5000})
    (media / "notes.txt").write_text("read me\n")
    staged = stage(media)
    target = _store(tmp_path)
    events: list[StepEvent] = []

    receipt = target.run(target.plan(staged), on_step=events.append)

    verified = {image.references[0]: image.images[0] for image in staged.images}
    store = tmp_path / "home" / "store"
    assert _index_refs(store) == {ref: verified[ref].manifest_digest for ref in (APP, DB, TOOL)}
    for blob in (store / "blobs" / "sha256").iterdir():
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name
    assert {(i.references, i.config_digest) for i in receipt.images} == {
        ((ref,), verified[ref].config_digest) for ref in (APP, DB, TOOL)
    }
    delivered = tmp_path / "home" / "received" / staged.digest.removeprefix("sha256:")
    assert (delivered / "notes.txt").read_text() == "read me\n"
    assert [f.path for f in receipt.files] == ["notes.txt"]
    assert [e.status for e in events].count("done") == len(events) // 2 == 4


@pytest.mark.parametrize("durable_images", [True, False], ids=["for-the-store", "for-a-stream"])
def test_no_staged_blob_is_named_in_the_store_before_it_is_on_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, durable_images: bool
) -> None:
    """Staged for the engine or a registry (which only stream them), blobs are not fsynced
    while verifying; files always are. If such a bundle goes to the store after all, each
    blob is fsynced before its name appears there: a power cut never leaves a named, empty
    blob in the store."""
    media = tmp_path / "media"
    oci_layout(media / "layout", {APP: 3000, DB: 70_000})
    (media / "notes.txt").write_text("read me\n")
    store = tmp_path / "home" / "store"
    synced: list[tuple[int, bool]] = []  # (inode fsynced, a store blob of its name exists)
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        name = Path(os.readlink(f"/proc/self/fd/{fd}")).name
        synced.append((os.fstat(fd).st_ino, (store / "blobs" / "sha256" / name).exists()))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    staged = stage(media, durable_images=durable_images)
    assert staged.files_root is not None
    blobs = {staged.blob_path(d).stat().st_ino for image in staged.images for d in image.blobs}
    notes = (staged.files_root / "notes.txt").stat().st_ino
    while_verifying = {inode for inode, _ in synced}
    synced.clear()
    target = _store(tmp_path)

    target.run(target.plan(staged))

    assert notes in while_verifying
    if durable_images:
        assert blobs <= while_verifying
    else:
        assert not blobs & while_verifying
        assert blobs <= {inode for inode, named in synced if not named}
    assert _index_refs(store).keys() == {APP, DB}


def test_importing_the_same_images_again_copies_no_blob(tmp_path: Path) -> None:
    media = tmp_path / "media"
    oci_layout(media / "layout", {APP: 3000, DB: 70_000})
    staged = stage(media)
    target = _store(tmp_path)
    target.run(target.plan(staged))
    blobs = tmp_path / "home" / "store" / "blobs" / "sha256"
    before = {p.name: p.stat().st_mtime_ns for p in blobs.iterdir()}
    details: list[str] = []

    receipt = target.run(target.plan(staged), on_step=lambda e: details.append(e.detail))

    assert [image.bytes_copied for image in receipt.images] == [0, 0]
    assert {p.name: p.stat().st_mtime_ns for p in blobs.iterdir()} == before
    assert details.count("already in the store") == 2


def test_media_changed_after_verification_still_imports_the_verified_bytes(
    tmp_path: Path,
) -> None:
    media = tmp_path / "media"
    oci_layout(media / "layout", {APP: 3000, DB: 70_000})
    staged = stage(media)
    db = next(i for i in staged.images if i.references == (DB,)).images[0]
    layer = media / "layout" / "blobs" / "sha256" / db.layers[0].digest.removeprefix("sha256:")
    layer.write_bytes(b"swapped after verification")  # the stick changes; nobody reads it now
    target = _store(tmp_path)

    target.run(target.plan(staged))

    store = tmp_path / "home" / "store" / "blobs" / "sha256"
    landed = store / db.layers[0].digest.removeprefix("sha256:")
    assert hashlib.sha256(landed.read_bytes()).hexdigest() == landed.name
    for blob in store.iterdir():
        assert blob.stat().st_nlink == 2  # a hard link of the staged blob: no second copy


def test_a_store_that_is_a_file_is_refused_before_anything_moves(tmp_path: Path) -> None:
    media = tmp_path / "media"
    oci_layout(media / "layout", {APP: 100})
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "store").write_text("not a folder")

    with pytest.raises(ImportFailed, match="is not a folder"):
        _store(tmp_path).plan(stage(media))


def test_stopping_an_import_leaves_no_partial_blob_and_no_half_image(tmp_path: Path) -> None:
    media = tmp_path / "media"
    oci_layout(media / "layout", {APP: 3000, DB: 3 * 1024 * 1024})
    staged = stage(media)
    target = _store(tmp_path)
    cancel = threading.Event()

    def stop_during_second(event: StepEvent) -> None:
        if event.status == "started" and event.step.image and event.step.image.references == (
            DB,
        ):
            cancel.set()  # the copy loop sees it at its first chunk, with a blob half-written

    with pytest.raises(Cancelled):
        target.run(target.plan(staged), on_step=stop_during_second, cancel=cancel)

    store = tmp_path / "home" / "store"
    assert list(_index_refs(store)) == [APP]
    assert not list(store.rglob(".partial-*"))


def test_a_legacy_archive_whose_layer_does_not_match_its_config_is_rejected_at_verify(
    tmp_path: Path,
) -> None:
    media = tmp_path / "media"
    media.mkdir()
    archive = big_docker_archive(media / "old.tar", APP, 4096)
    with tarfile.open(archive) as tar:
        layer = next(m for m in tar.getmembers() if m.name.endswith("layer.tar"))
    data = bytearray(archive.read_bytes())
    data[layer.offset_data + 1024] ^= 1  # signed that way: the checksum alone cannot tell
    archive.write_bytes(bytes(data))

    verification = verify_media(media, tmp_path / "staging")

    assert [p.code for p in verification.problems] == ["diff-id-mismatch"]
    assert "its config says" in verification.problems[0].message
    assert verification.staged is None and list((tmp_path / "staging").iterdir()) == []


def test_a_legacy_archive_gets_a_manifest_naming_its_verified_config(tmp_path: Path) -> None:
    media = tmp_path / "media"
    media.mkdir()
    big_docker_archive(media / "old.tar", APP, 4096)
    staged = stage(media)
    target = _store(tmp_path)

    (receipt,) = target.run(target.plan(staged)).images

    store = tmp_path / "home" / "store"
    blob = store / "blobs" / "sha256" / receipt.manifest_digest.removeprefix("sha256:")
    manifest = json.loads(blob.read_bytes())
    (image,) = staged.images[0].images
    assert manifest["config"]["digest"] == image.config_digest
    assert [layer["digest"] for layer in manifest["layers"]] == [image.layers[0].digest]
    assert manifest["layers"][0]["mediaType"] == "application/vnd.oci.image.layer.v1.tar"
