"""A folder of folders as media: subfolders come and go like sticks."""

from __future__ import annotations

import queue
import shutil
from pathlib import Path

from station.media.events import MediaEvent, MediaInserted, MediaRemoved
from station.media.folder import FolderMediaSource


def _next(events: queue.Queue[MediaEvent]) -> MediaEvent:
    return events.get(timeout=5)


def test_subfolders_are_inserted_and_removed_while_the_source_runs(tmp_path: Path) -> None:
    (tmp_path / "already-there").mkdir()
    (tmp_path / "notes.txt").write_text("a file is not media")
    (tmp_path / ".hidden").mkdir()
    events: queue.Queue[MediaEvent] = queue.Queue()
    source = FolderMediaSource(tmp_path, interval=0.05)
    source.start(events.put)
    try:
        first = _next(events)
        assert isinstance(first, MediaInserted) and first.media is not None
        assert first.media.root == tmp_path / "already-there"
        assert (first.device.bus, first.device.label) == ("folder", "already-there")

        (tmp_path / "dvd").mkdir()
        (tmp_path / "dvd" / "SHA256SUMS").write_text("")
        second = _next(events)
        assert isinstance(second, MediaInserted) and second.media is not None
        assert second.media.root == tmp_path / "dvd"
        assert second.media.is_present()

        shutil.rmtree(tmp_path / "dvd")
        third = _next(events)
        assert isinstance(third, MediaRemoved) and third.device.device == str(tmp_path / "dvd")
        assert not second.media.is_present()
    finally:
        source.stop()
    assert events.empty(), "hidden folders and files are never media"


def test_a_folder_still_being_filled_waits_until_it_settles(tmp_path: Path) -> None:
    source = FolderMediaSource(tmp_path)
    seen: list[MediaEvent] = []
    source.poll_once(seen.append, settle=False)
    drop = tmp_path / "drop"
    drop.mkdir()
    source.poll_once(seen.append)
    assert seen == [], "a new folder is not read on first sight"
    (drop / "part-1").write_bytes(b"x")
    source.poll_once(seen.append)
    assert seen == [], "it changed since the last look: wait again"
    source.poll_once(seen.append)
    assert [type(e) for e in seen] == [MediaInserted]


def test_a_missing_parent_folder_reports_nothing_and_keeps_watching(tmp_path: Path) -> None:
    parent = tmp_path / "mnt"
    events: queue.Queue[MediaEvent] = queue.Queue()
    source = FolderMediaSource(parent, interval=0.05)
    source.start(events.put)
    try:
        parent.mkdir()
        (parent / "late").mkdir()
        event = _next(events)
        assert isinstance(event, MediaInserted) and event.device.label == "late"
    finally:
        source.stop()
