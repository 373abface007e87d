"""The one gate for media paths: every hostile name and file type is refused with a reason."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from station.bundle.safety import (
    check_relative_path,
    open_media_file,
    read_media_file,
    walk_media,
)
from station.errors import UnsafePathError


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "empty"),
        ("/etc/passwd", "absolute"),
        ("../outside", "parent directory"),
        ("images/../../x", "parent directory"),
        ("a//b", "empty or '.'"),
        ("./a", "empty or '.'"),
        ("a\\b", "backslash"),
        ("evil\x00name", "control character"),
        ("new\nline", "control character"),
        ("esc\x1b[31m", "control character"),
        ("c1\x9bchar", "control character"),
        ("invoice\u202egnp.exe", "bidirectional"),
        ("x" * 256, "too long"),
    ],
)
def test_hostile_names_are_refused(name: str, reason: str) -> None:
    with pytest.raises(UnsafePathError, match=reason):
        check_relative_path(name)


@pytest.mark.parametrize("name", ["a", "images/app.tar", "sbom/app.cdx.json", "ünïcode/名前.txt"])
def test_ordinary_names_pass(name: str) -> None:
    assert check_relative_path(name) == name


def test_refused_names_are_shown_escaped(tmp_path: Path) -> None:
    with pytest.raises(UnsafePathError) as info:
        check_relative_path("invoice\u202egnp.exe")
    assert "\\u202e" in info.value.message


def test_symlinked_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("station secret")
    (tmp_path / "link").symlink_to(tmp_path / "secret")
    with pytest.raises(UnsafePathError, match="symbolic link"):
        open_media_file(tmp_path, "link", max_size=100)


def test_symlinked_folder_on_the_way_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "file").write_text("outside the media")
    media = tmp_path / "media"
    media.mkdir()
    (media / "dir").symlink_to(outside)
    with pytest.raises(UnsafePathError, match="symbolic link"):
        open_media_file(media, "dir/file", max_size=100)


def test_fifo_and_device_are_refused(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(UnsafePathError, match="FIFO"):
        open_media_file(tmp_path, "fifo", max_size=100)
    if os.geteuid() == 0:
        os.mknod(tmp_path / "null", 0o600 | 0o020000, os.makedev(1, 3))
        with pytest.raises(UnsafePathError, match="device"):
            open_media_file(tmp_path, "null", max_size=100)


def test_size_cap_is_checked_before_reading(tmp_path: Path) -> None:
    with (tmp_path / "sparse").open("wb") as handle:
        handle.truncate(10 * 1024**3)  # 10 GiB, sparse: reading it would take long
    with pytest.raises(UnsafePathError, match="over the limit"):
        read_media_file(tmp_path, "sparse", max_size=1024)


def test_missing_file_is_reported_as_missing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        open_media_file(tmp_path, "absent", max_size=10)


def test_walk_reports_links_and_fifos_and_never_follows(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "hidden").write_text("x")
    media = tmp_path / "media"
    (media / "sub").mkdir(parents=True)
    (media / "sub" / "file").write_text("ok")
    (media / "loop").symlink_to(outside)
    os.mkfifo(media / "pipe")
    found = {entry.path: entry.problem for entry in walk_media(media, max_entries=100)}
    assert found["sub/file"] is None
    assert "symbolic link" in (found["loop"] or "")
    assert "FIFO" in (found["pipe"] or "")
    assert not any(path.startswith("loop/") for path in found)


def test_walk_stops_at_the_entry_cap(tmp_path: Path) -> None:
    for n in range(20):
        (tmp_path / f"f{n}").write_text("x")
    with pytest.raises(UnsafePathError, match="more than 10 entries"):
        walk_media(tmp_path, max_entries=10)
