"""A udev media watcher whose monitor breaks for real, inside the umockdev testbed.

Prints every media event as JSON (like `station media watch --json`). After the first event,
it puts /dev/null in place of the monitor's netlink socket (dup2 onto the same descriptor):
at the next uevent, pyudev's receive fails with a real ENOTSOCK from recvmsg, as with a broken
socket; it then prints `{"event": "socket-broken"}`. Stops after `sys.argv[1]` events.
"""

from __future__ import annotations

import json
import os
import queue
import sys

from station.media.events import MediaEvent, event_to_json
from station.media.udev import UdevMediaSource


def main() -> int:
    wanted = int(sys.argv[1])
    events: queue.Queue[MediaEvent] = queue.Queue()
    source = UdevMediaSource(None)
    source.start(events.put)
    try:
        for count in range(wanted):
            event = events.get(timeout=60)
            print(json.dumps(event_to_json(event)), flush=True)
            if count == 0:
                null = os.open(os.devnull, os.O_RDONLY)
                os.dup2(null, source._monitor.fileno())  # the test's fault: break the socket
                os.close(null)
                print(json.dumps({"event": "socket-broken"}), flush=True)  # the test goes on
    finally:
        source.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
