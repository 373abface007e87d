"""`station media watch`: print media events as they happen, like `udevadm monitor`.

Runs until Ctrl-C or SIGTERM (exit 0), or after `--count N` events (for scripts and tests).
By default it only watches (no mounting, no privilege needed); `--mount` also mounts each
USB storage device read-only, as the kiosk does, and prints where.
"""

from __future__ import annotations

import argparse
import json
import queue
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from station.errors import UsageError
from station.media.events import MediaEvent, MediaSource, event_line, event_to_json
from station.media.folder import FolderMediaSource

EXIT_OK = 0


def register(subparsers: Any) -> None:
    media = subparsers.add_parser("media", help="watch USB media and media folders")
    media_sub = media.add_subparsers(dest="media_command", metavar="ACTION")
    media_sub.required = True
    watch = media_sub.add_parser(
        "watch",
        help="print one line per media event (inserted, removed, refused)",
        description="Print media events as they happen until Ctrl-C. "
        "Exit 0 on Ctrl-C, SIGTERM or after --count events.",
    )
    watch.add_argument("--json", action="store_true", help="one JSON object per line")
    watch.add_argument(
        "--count", type=int, metavar="N", help="stop after N events (for scripts and tests)"
    )
    watch.add_argument(
        "--folder",
        metavar="DIR",
        help="watch the subfolders of DIR as media instead of USB devices",
    )
    watch.add_argument(
        "--mount",
        action="store_true",
        help="also mount USB storage read-only, as the kiosk does (needs the media helper)",
    )
    watch.add_argument(
        "--mount-dir",
        metavar="DIR",
        help="with --mount: mount under DIR instead of /run/station/media (root only)",
    )
    watch.set_defaults(func=run_watch)


def _source(args: argparse.Namespace) -> MediaSource:
    if args.folder:
        folder = Path(args.folder)
        if not folder.is_dir():
            raise UsageError(f"{folder}: not a folder", hint="create it or pick another")
        return FolderMediaSource(folder)
    from station.media.mounts import Mounter
    from station.media.udev import UdevMediaSource

    if not args.mount:
        return UdevMediaSource(None)
    return UdevMediaSource(Mounter(Path(args.mount_dir)) if args.mount_dir else Mounter())


def run_watch(args: argparse.Namespace) -> int:
    if args.count is not None and args.count < 1:
        raise UsageError("--count must be at least 1")
    events: queue.Queue[MediaEvent] = queue.Queue()
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    source = _source(args)
    source.start(events.put)
    seen = 0
    try:
        while not stop.is_set():
            try:
                event = events.get(timeout=0.2)
            except queue.Empty:
                continue
            line = json.dumps(event_to_json(event), ensure_ascii=False) if args.json else (
                event_line(event)
            )
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
            seen += 1
            if args.count is not None and seen >= args.count:
                break
    finally:
        source.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return EXIT_OK
