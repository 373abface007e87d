"""One transfer per station home at a time: an `flock` on `<home>/transfer.lock`.

Two transfers in one home destroy each other (each cleans staging, both write the same
`staging/<digest>/`), so a transfer holds this lock from its creation until it reaches a final
state and no step of it is still running; the kiosk and `station import` alike. A second one
is refused at once with `TransferBusy` (exit 2), which says which transfer holds the home and
since when. The lock file holds that description as JSON (`pid`, `transfer`, `digest`,
`started`, `command`); the kernel drops the `flock` when its holder dies, even by SIGKILL, so a
crashed transfer never leaves a stale lock, only stale JSON that nobody believes unless the
lock is really held.

Staging belongs to the lock: whoever holds it owns everything under `<home>/staging/`. So
leftovers are cleaned only while holding it (`clean_staging_if_free` at start-up, and each new
transfer before it stages anything), never under a living transfer. `station verify` stages
nothing and takes no lock.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shlex
import shutil
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from station.errors import StationError

LOCK_NAME = "transfer.lock"
MAX_LOCK_BYTES = 4096


@dataclass(frozen=True)
class LockHolder:
    """Who holds the home, as the holder wrote it into the lock file."""

    pid: int | None
    transfer: str | None
    digest: str | None
    started: str | None
    command: str | None

    def describe(self) -> str:
        """`transfer 1a2b3c (bundle sha256:…) by `station import /media` (pid 42) since …`."""
        parts = [f"transfer {self.transfer}" if self.transfer else "a transfer"]
        if self.digest:
            parts.append(f"(bundle {self.digest})")
        if self.command:
            parts.append(f"by `{self.command}`")
        if self.pid:
            parts.append(f"(pid {self.pid})")
        if self.started:
            parts.append(f"since {self.started}")
        return " ".join(parts)

    @classmethod
    def from_json(cls, data: bytes) -> LockHolder | None:
        try:
            doc = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return None
        if not isinstance(doc, dict):
            return None

        def text(key: str) -> str | None:
            value = doc.get(key)
            return value[:300] if isinstance(value, str) else None

        pid = doc.get("pid")
        return cls(
            pid=pid if isinstance(pid, int) and not isinstance(pid, bool) else None,
            transfer=text("transfer"),
            digest=text("digest"),
            started=text("started"),
            command=text("command"),
        )


class TransferBusy(StationError):
    """Another transfer holds this station home; nothing was done (exit 2)."""

    def __init__(self, home: Path, holder: LockHolder | None) -> None:
        who = holder.describe() if holder is not None else "another transfer (just starting)"
        super().__init__(
            f"another transfer is running in the station home {home}: {who}",
            hint="wait until it has finished (one transfer per station home at a time), "
            "then start this one again",
        )
        self.holder = holder


def current_command() -> str:
    """This process's command line, for the lock file (file names only, never secrets:
    PINs are never arguments)."""
    name = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"
    if name == "__main__.py" or name.endswith(".py"):
        name = "station"
    return shlex.join([name, *sys.argv[1:]])[:300]


class TransferLock:
    """The home's transfer lock, held by one transfer.

    Acquire with `TransferLock.acquire(home, command=...)`; the transfer then reports each
    running step with `with lock.step():` and calls `finish()` when it reaches a final state.
    The lock is released once both are true: final, and no step still running (a verify that
    is stopping after an abort still writes to staging until it returns). `reopen()` takes it
    again for a transfer that leaves a final state (an admin's rollback override).
    """

    def __init__(self, home: Path, *, command: str) -> None:
        self.home = home
        self.path = home / LOCK_NAME
        self.command = command
        self._fd: int | None = None
        self._info: dict[str, Any] = {}
        self._steps = 0
        self._finished = False
        self._mutex = threading.Lock()

    @classmethod
    def acquire(
        cls, home: Path, *, command: str | None = None, transfer: str | None = None
    ) -> TransferLock:
        """Hold the home for one transfer, or raise `TransferBusy` at once (never waits)."""
        lock = cls(home, command=command or current_command())
        lock._take(transfer)
        return lock

    @property
    def held(self) -> bool:
        return self._fd is not None

    def _take(self, transfer: str | None) -> None:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o640)
        except OSError as exc:
            raise StationError(
                f"cannot open the transfer lock {self.path}: {exc.strerror or exc}",
                hint="run as the station user, or pass --home DIR",
            ) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _read_holder(fd)
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise TransferBusy(self.home, holder) from None
            raise StationError(f"cannot lock {self.path}: {exc.strerror or exc}") from exc
        self._fd = fd
        self._finished = False
        self._info = {
            "pid": os.getpid(),
            "transfer": transfer,
            "digest": None,
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": self.command,
        }
        self._write()

    def describe_as(self, *, transfer: str | None = None, digest: str | None = None) -> None:
        """Name the transfer and, once known, its bundle digest for whoever is refused."""
        with self._mutex:
            if transfer is not None:
                self._info["transfer"] = transfer
            if digest is not None:
                self._info["digest"] = digest
            if self._fd is not None:
                self._write()

    def _write(self) -> None:
        assert self._fd is not None  # noqa: S101 - only called while held
        data = json.dumps(self._info, sort_keys=True).encode("utf-8")[:MAX_LOCK_BYTES]
        with contextlib.suppress(OSError):  # the description is a courtesy; flock is the lock
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, data, 0)

    @contextmanager
    def step(self) -> Iterator[None]:
        """A step of the transfer is running (verify, import): keep the home until it ends."""
        with self._mutex:
            self._steps += 1
        try:
            yield
        finally:
            with self._mutex:
                self._steps -= 1
                self._release_if_done()

    def finish(self) -> None:
        """The transfer reached a final state: release now, or when its last step returns."""
        with self._mutex:
            self._finished = True
            self._release_if_done()

    def reopen(self) -> None:
        """Hold the home again for a transfer that leaves its final state; `TransferBusy`
        if another transfer took the home meanwhile."""
        with self._mutex:
            self._finished = False
            if self._fd is None:
                self._take(self._info.get("transfer"))

    def release(self) -> None:
        """Let the home go now (also when the transfer is dropped without finishing)."""
        with self._mutex:
            self._unlock()

    def _release_if_done(self) -> None:
        if self._finished and self._steps == 0:
            self._unlock()

    def _unlock(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)  # nobody is described as holding it any more
        os.close(fd)  # closing the only descriptor drops the flock

    def __enter__(self) -> TransferLock:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


def _read_holder(fd: int) -> LockHolder | None:
    try:
        data = os.pread(fd, MAX_LOCK_BYTES, 0)
    except OSError:
        return None
    return LockHolder.from_json(data) if data else None


def holder(home: Path) -> LockHolder | None:
    """Who holds the home now, or None when no transfer runs (the file alone proves nothing:
    only a held flock counts)."""
    try:
        with TransferLock.acquire(home, command="(checking)"):
            return None
    except TransferBusy as busy:
        return busy.holder or LockHolder(None, None, None, None, None)


def clean_staging_if_free(home: Path, staging: Path) -> tuple[int, LockHolder | None]:
    """Remove leftovers in staging unless a living transfer owns it.

    Returns (how many entries were removed, the holder when staging was left alone).
    """
    try:
        lock = TransferLock.acquire(home, command="start-up: cleaning staging")
    except TransferBusy as busy:
        return 0, busy.holder or LockHolder(None, None, None, None, None)
    with lock:
        return clean_staging(staging), None


def clean_staging(staging: Path) -> int:
    """Remove every entry in staging; only for the holder of the home's lock."""
    count = 0
    if staging.is_dir():
        for child in staging.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)
            count += 1
    return count
