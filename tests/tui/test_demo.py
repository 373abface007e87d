"""The demo station: what `station-kiosk --demo` builds must be a real, checkable station."""

from __future__ import annotations

import queue
import time

from station.bundle import open_bundle
from station.config import Limits
from station.demo import DEMO_IMAGE, DemoFeed, DemoHome
from station.media.events import MediaEvent, MediaInserted, MediaRemoved
from station.media.folder import FolderMediaSource
from station.verify.trust import TrustStore


def test_demo_bundles_carry_a_real_image_an_sbom_and_a_file(demo: DemoHome) -> None:
    genuine, tampered = demo.media
    bundle = open_bundle(genuine.source, Limits())
    assert [image.references for image in bundle.images] == [(DEMO_IMAGE,)]
    assert sorted(item.kind.value for item in bundle.items) == ["file", "image-archive", "sbom"]
    assert bundle.signatures, "the genuine bundle is signed"
    # The tampered copy lists the same digests (same manifest) but one file's bytes differ.
    assert open_bundle(tampered.source, Limits()).digest == bundle.digest
    request = "files/transfer-request.txt"
    assert (genuine.source / request).read_bytes() != (tampered.source / request).read_bytes()


def test_demo_trust_store_holds_the_demo_signing_key(demo: DemoHome) -> None:
    trust = TrustStore.load(demo.home / "trust")
    assert [key.name for key in trust.keys] == ["demo-release"]
    assert not trust.problems


def test_feed_inserts_and_pulls_media_seen_by_the_folder_source(demo: DemoHome) -> None:
    events: queue.Queue[MediaEvent] = queue.Queue()
    source = FolderMediaSource(demo.media_dir, interval=0.05)
    source.start(events.put)
    feed = DemoFeed(demo, auto=False)
    try:
        assert feed.insert_next() is not None
        assert feed.insert_next() is None, "only one media at a time"
        inserted = events.get(timeout=5)
        assert isinstance(inserted, MediaInserted) and inserted.media is not None
        assert inserted.media.root.name == "TRANSFER-0042"
        assert feed.remove_current()
        assert isinstance(events.get(timeout=5), MediaRemoved)
        feed.insert_next()
        second = events.get(timeout=5)
        assert isinstance(second, MediaInserted) and second.media is not None
        assert second.media.root.name == "TRANSFER-0043"
    finally:
        source.stop()
        feed.stop()


def test_auto_feed_inserts_the_next_media_once_the_folder_is_empty(demo: DemoHome) -> None:
    feed = DemoFeed(demo, auto=True, delay=0.05)
    feed.start()
    try:
        deadline = time.monotonic() + 5
        while not (demo.media_dir / "TRANSFER-0042").exists():
            assert time.monotonic() < deadline, "the first media never went in"
            time.sleep(0.02)
        time.sleep(0.2)
        assert sorted(p.name for p in demo.media_dir.iterdir()) == ["TRANSFER-0042"]
        feed.remove_current()
        while not (demo.media_dir / "TRANSFER-0043").exists():
            assert time.monotonic() < deadline, "the next media never went in"
            time.sleep(0.02)
    finally:
        feed.stop()
