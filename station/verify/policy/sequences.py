"""The rollback marks: per channel, the highest sequence ever imported (`<home>/sequence.json`).

A mark only grows. An admin override that imports an older sequence on purpose leaves the
mark where it was, so every bundle refused as old before the override is still refused after
it. The file is replaced atomically (fsync, rename, fsync of the folder): a power cut must not
let an old bundle through once. When the write fails (a full disk), the mark is kept in memory
for the life of this station process, so this process still refuses what it must, the caller
is told with `SequenceWriteFailed` (the workflow audits it and says what landed), and the next
successful write also saves it.
"""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from station.atomic import replace_file
from station.errors import StationError

SEQUENCE_NAME = "sequence.json"


class SequenceWriteFailed(StationError):
    """The rollback mark of a channel could not be saved after an import."""

    def __init__(self, channel: str, sequence: int, reason: str) -> None:
        super().__init__(
            f"the rollback mark for channel {channel!r} (sequence {sequence}) could not be "
            f"saved: {reason}",
            hint="free space or fix the station home, then restart the station; until the "
            "mark is saved, a restart forgets it",
        )
        self.channel = channel
        self.sequence = sequence
        self.reason = reason


class SequenceStore:
    """`<home>/sequence.json`: `{"channels": {NAME: {"sequence", "digest", "time"}}}`."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._pending: dict[str, dict[str, Any]] = {}  # raised marks not yet on disk
        self._lock = threading.Lock()

    def load(self) -> dict[str, int]:
        """The mark of every channel (on disk, raised by any mark not yet saved)."""
        marks = {channel: entry["sequence"] for channel, entry in self._read().items()}
        with self._lock:
            for channel, entry in self._pending.items():
                marks[channel] = max(marks.get(channel, entry["sequence"]), entry["sequence"])
        return marks

    def record(self, channel: str, sequence: int, digest: str) -> int:
        """Raise the channel's mark to `sequence` if that is higher; returns the mark.

        An older sequence (imported on an admin's override) changes nothing on disk. Marks
        that an earlier write failed to save are saved along with this one.
        """
        entry = {
            "sequence": sequence,
            "digest": digest,
            "time": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        with self._lock:
            raises = dict(self._pending)
            if _higher(entry, raises.get(channel)):
                raises[channel] = entry
            channels = self._read()
            changed = {name: e for name, e in raises.items() if _higher(e, channels.get(name))}
            if changed:
                try:
                    self._write({**channels, **changed})
                except OSError as exc:
                    self._pending = changed
                    raise SequenceWriteFailed(
                        channel, sequence, exc.strerror or str(exc)
                    ) from exc
            self._pending = {}
            return int({**channels, **changed}[channel]["sequence"])

    def _read(self) -> dict[str, dict[str, Any]]:
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise StationError(
                f"cannot read the imported sequences {self.path}: {exc}",
                hint="restore it from a backup; rollback protection cannot work without it",
            ) from exc
        channels = doc.get("channels") if isinstance(doc, dict) else None
        if not isinstance(channels, dict):
            raise StationError(f"{self.path}: no 'channels' object; the file is damaged")
        for channel, entry in channels.items():
            sequence = entry.get("sequence") if isinstance(entry, dict) else None
            if not isinstance(sequence, int) or isinstance(sequence, bool):
                raise StationError(f"{self.path}: channel {channel!r} has no integer sequence")
        return channels

    def _write(self, channels: dict[str, dict[str, Any]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = json.dumps({"channels": channels}, indent=2, sort_keys=True).encode("utf-8")
        replace_file(self.path, data, mode=0o644)


def _higher(entry: dict[str, Any], than: dict[str, Any] | None) -> bool:
    return than is None or int(entry["sequence"]) > int(than["sequence"])
