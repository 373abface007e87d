"""Media: where bundles come from (USB sticks through udev, or folders), read-only.

Sources report `MediaInserted` / `MediaRemoved` / `MediaRefused` on their own thread (and
`MediaWatcherFailed` / `MediaWatcherRestarted` when the watcher itself fails and recovers); a
`MediaRef` (from `MediaInserted.media`) gives the folder to read a bundle from and says
whether the media is still present.
"""

from station.media.events import (
    DeviceInfo,
    MediaCallback,
    MediaEvent,
    MediaInserted,
    MediaRef,
    MediaRefused,
    MediaRemoved,
    MediaSource,
    MediaWatcherFailed,
    MediaWatcherRestarted,
)

__all__ = [
    "DeviceInfo",
    "MediaCallback",
    "MediaEvent",
    "MediaInserted",
    "MediaRef",
    "MediaRefused",
    "MediaRemoved",
    "MediaSource",
    "MediaWatcherFailed",
    "MediaWatcherRestarted",
]
