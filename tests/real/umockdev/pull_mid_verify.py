"""Child for the "stick pulled during verification" test; runs inside the umockdev testbed.

    pull_mid_verify.py STATION_HOME MOUNT_DIR

Does what the kiosk does, without the screen: a `UdevMediaSource` with a real `Mounter`;
on `MediaInserted` a transfer is opened and verified on a worker thread; on `MediaRemoved`
the transfer is aborted. The first progress report holds the hashing (so the pull happens
mid-read, deterministically) until the removal has been handled. Prints JSON lines:
`{"inserted": root}`, `{"verifying": path}`, `{"removed": device}`, then a final report.
"""

from __future__ import annotations

import json
import queue
import sys
import threading
from pathlib import Path

from station.errors import StationError
from station.media.events import MediaEvent, MediaInserted, MediaRemoved
from station.media.mounts import Mounter
from station.media.udev import UdevMediaSource
from station.progress import Progress
from station.station import Station


def say(doc: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(doc) + "\n")
    sys.stdout.flush()


def main() -> int:
    station = Station.open(sys.argv[1])
    events: queue.Queue[MediaEvent] = queue.Queue()
    source = UdevMediaSource(Mounter(Path(sys.argv[2])))
    source.start(events.put)
    gate = threading.Event()
    outcome: dict[str, object] = {}

    announced = threading.Event()
    announcing = threading.Lock()

    def held(progress: Progress) -> None:
        """Every hashing worker stops here until the removal has been handled."""
        if not gate.is_set():
            with announcing:
                if not announced.is_set():
                    announced.set()
                    say({"verifying": progress.path})
            gate.wait(timeout=30)

    try:
        inserted = events.get(timeout=30)
        assert isinstance(inserted, MediaInserted) and inserted.media is not None
        media = inserted.media
        say({"inserted": str(media.root)})
        transfer = station.new_transfer(media.root, inserted.device)
        transfer.inspect()

        def work() -> None:
            try:
                transfer.verify(on_progress=held)
                outcome["verify"] = "returned"
            except StationError as exc:
                outcome["verify"] = f"{type(exc).__name__}: {exc.message}"

        worker = threading.Thread(target=work)
        worker.start()
        removed = events.get(timeout=30)
        assert isinstance(removed, MediaRemoved)
        transfer.abort("the media was removed")
        say({"removed": removed.device.device, "present": media.is_present()})
        gate.set()
        worker.join(timeout=30)
        staging = station.config.staging_dir
        say({
            "state": transfer.state.value,
            "verify": outcome.get("verify"),
            "staging": sorted(p.name for p in staging.iterdir()),
        })
    finally:
        source.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
