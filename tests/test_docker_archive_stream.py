"""The docker-archive the station sends to `docker load`: announced length, exact bytes.

The engine gets a Content-Length before the first byte, so the announced length must be the
length sent, to the byte; the members must be the staged blobs (a zstd layer decompressed),
and a staged blob that changed after planning must stop the stream rather than send less.
"""

from __future__ import annotations

import hashlib
import io
import json
import socket
import tarfile
import threading
from pathlib import Path

import pytest

from station.importing.docker_archive_stream import CanonicalArchive, StagedBlobError
from station.verify.staged import StagedBundle
from tests.importing_builders import stage
from tests.scan_builders import build_image


def _staged(tmp_path: Path) -> StagedBundle:
    media = tmp_path / "media"
    layers = [{"etc/os-release": b"ID=demo\n"}, {"app/data.bin": bytes(range(256)) * 4000}]
    build_image(media / "app", "example.org/zstd/app:1", layers, compression=["gzip", "zstd"])
    return stage(media)


def _received(archive: CanonicalArchive) -> tuple[bytes, list[int]]:
    """Everything `send` writes into a socket, and the byte counts it reported."""
    ours, theirs = socket.socketpair()
    counted: list[int] = []
    received = bytearray()

    def drain() -> None:
        while data := theirs.recv(1 << 20):
            received.extend(data)

    reader = threading.Thread(target=drain)
    reader.start()
    try:
        archive.send(ours, counted.append, None)
    finally:
        ours.shutdown(socket.SHUT_WR)
        reader.join()
        ours.close()
        theirs.close()
    return bytes(received), counted


def test_the_announced_length_is_what_is_sent_and_layers_are_the_staged_content(
    tmp_path: Path,
) -> None:
    staged = _staged(tmp_path)
    image = staged.images[0].images[0]
    archive = CanonicalArchive(image, staged.layout / "blobs" / "sha256")

    data, counted = _received(archive)

    assert len(data) == archive.length
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        names = tar.getnames()
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        layers = [tar.extractfile(name).read() for name in manifest[0]["Layers"]]  # type: ignore[union-attr]
    config_name = image.config_digest.removeprefix("sha256:") + ".json"
    assert names[0] == config_name and names[-1] == "manifest.json"
    assert manifest == [{"Config": config_name, "RepoTags": None,
                         "Layers": [f"{layer.digest.removeprefix('sha256:')}/layer.tar"
                                    for layer in image.layers]}]
    # the zstd layer arrives decompressed: its content is the config's diff_id
    config = json.loads(staged.blob_path(image.config_digest).read_bytes())
    assert "sha256:" + hashlib.sha256(layers[1]).hexdigest() == config["rootfs"]["diff_ids"][1]
    assert layers[0] == staged.blob_path(image.layers[0].digest).read_bytes()  # gzip as staged
    assert sum(counted) == sum(member.size for member in archive.members)


def test_a_staged_layer_cut_short_after_planning_stops_the_stream(tmp_path: Path) -> None:
    staged = _staged(tmp_path)
    image = staged.images[0].images[0]
    archive = CanonicalArchive(image, staged.layout / "blobs" / "sha256")
    layer = staged.blob_path(image.layers[0].digest)
    layer.write_bytes(layer.read_bytes()[:-10])

    with pytest.raises(StagedBlobError, match="staged image") as failure:
        _received(archive)
    assert failure.value.hint and "verify the bundle again" in failure.value.hint
