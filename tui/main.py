"""`station-kiosk`: the kiosk app, or with `--demo` the whole procedure on this machine.

Kiosk mode (the default) has no quit key and no command palette; leaving needs the admin
credential. `--demo` builds a temporary station home and a demo media folder, and lets the
operator insert a genuine and a tampered bundle with a key press (or a few seconds apart).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from station.errors import StationError

if TYPE_CHECKING:
    from station.station import Station
    from tui.app import StationApp


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="station-kiosk",
        description="The transfer station kiosk: guides operators through one transfer.",
    )
    parser.add_argument("--demo", action="store_true",
                        help="run on a temporary demo station with demo media (quit: Ctrl+Q)")
    parser.add_argument("--home", metavar="DIR",
                        help="station home (default: $STATION_HOME, else /var/lib/station); "
                        "with --demo, where to build the demo station")
    parser.add_argument("--media-dir", metavar="DIR",
                        help="watch this folder for media (each new sub-folder is one "
                        "insertion) instead of USB devices")
    parser.add_argument("--no-auto", action="store_true",
                        help="with --demo: insert demo media only on key press (N)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    scratch = None
    if args.demo and not args.home:
        scratch = Path(tempfile.mkdtemp(prefix="station-demo-"))
    try:
        app = _build_app(args, scratch)
        app.run()
    except StationError as exc:
        print(f"station-kiosk: error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"station-kiosk: what to do: {exc.hint}", file=sys.stderr)
        return exc.exit_code
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    return 0


def check_ready_for_kiosk(station: Station) -> None:
    """Kiosk mode needs a trusted key (else every bundle is rejected) and an enabled admin
    account (else nobody can leave the kiosk from the keyboard). Without either it does not
    start: exit 2, naming the command that fixes it."""
    from station.approval import Role

    config = station.config
    home = f" --home {config.home}"
    if not station.trust.keys:
        raise StationError(
            f"the trust store {config.trust_dir} holds no trusted key, so every bundle would "
            "be rejected",
            hint=f"copy the signers' public keys into {config.trust_dir}/ (NAME.pub, NAME.asc, "
            f"...) and check them with `station{home} keys list`",
        )
    admins = [op for op in station.operators.load().values()
              if op.role is Role.ADMIN and op.usable]
    if not admins:
        raise StationError(
            "there is no enabled admin account, so nobody could leave the kiosk from the "
            "keyboard",
            hint=f"create one with `station{home} operators add NAME --role admin` (or "
            f"`station{home} operators enable NAME` for a locked or disabled one)",
        )


def _build_app(args: argparse.Namespace, scratch: Path | None) -> StationApp:
    from station.station import Station
    from tui.app import StationApp

    if args.demo:
        from station.demo import DemoFeed, build_demo_home
        from station.media.folder import FolderMediaSource

        demo_home = build_demo_home(scratch or Path(args.home))
        feed = DemoFeed(demo_home, auto=not args.no_auto)
        station = Station.open(demo_home.home)
        return StationApp(station, FolderMediaSource(demo_home.media_dir), kiosk=False, demo=feed)
    station = Station.open(Path(args.home) if args.home else None)
    check_ready_for_kiosk(station)
    if args.media_dir:
        from station.media.folder import FolderMediaSource

        return StationApp(station, FolderMediaSource(Path(args.media_dir)))
    from station.media.mounts import Mounter
    from station.media.udev import UdevMediaSource

    return StationApp(station, UdevMediaSource(Mounter()))
