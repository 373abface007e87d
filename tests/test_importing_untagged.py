"""The archive the engine receives: the staged bytes, minus the tags it must not set itself."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from station.importing.base import ImportFailed
from station.importing.untagged import UntaggedArchive
from tests.importing_builders import APP, big_docker_archive


def _members(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {
            m.name: tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in tar.getmembers()
            if m.isreg()
        }


def test_the_stream_drops_repo_tags_and_keeps_every_other_byte(tmp_path: Path) -> None:
    archive = big_docker_archive(tmp_path / "app.tar", APP, 3 * 1024 * 1024 + 17)
    with tarfile.open(archive, mode="a") as tar:  # what docker save also writes
        info = tarfile.TarInfo("repositories")
        data = json.dumps({"registry.example.org/ops/app": {"1.2": "x"}}).encode()
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    original = _members(archive.read_bytes())

    with UntaggedArchive(archive) as stream:
        streamed = _members(stream.read())

    assert "repositories" not in streamed
    (entry,) = json.loads(streamed.pop("manifest.json"))
    assert entry["RepoTags"] is None
    assert entry["Layers"] == json.loads(original["manifest.json"])[0]["Layers"]
    original.pop("manifest.json")
    original.pop("repositories")
    assert streamed == original


def test_a_damaged_staged_archive_is_named(tmp_path: Path) -> None:
    archive = big_docker_archive(tmp_path / "app.tar", APP, 64 * 1024)
    archive.write_bytes(archive.read_bytes()[:20_000])

    with pytest.raises(ImportFailed, match=r"cannot read the staged archive app\.tar"):  # noqa: SIM117
        with UntaggedArchive(archive) as stream:
            while stream.read(65536):
                pass
