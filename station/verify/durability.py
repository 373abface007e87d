"""Staged bytes made durable without holding up the read of the media.

Everything staging writes must be on disk before an import names it (a hard link into the
store, a rename into `received/`), or a power cut could leave a named blob empty. Calling
`fsync` in the hashing thread stalls the read of the next chunk while the disk catches up;
instead, writeback of each written range is started at once (`sync_file_range` with
SYNC_FILE_RANGE_WRITE: asynchronous, Linux) and the final `fsync` of each file runs in a
small pool of its own. `Flusher.wait` returns when every file is durable; verification calls
it before it gives a verdict, so an accepted, staged bundle is on disk.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor

from station.verify.blobstore_errors import staging_failed

WRITEBACK_EVERY = 16 * 1024 * 1024
_SYNC_FILE_RANGE_WRITE = 2
MAX_PENDING = 64


def _libc_sync_file_range() -> object | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        function = libc.sync_file_range
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


_SYNC_FILE_RANGE = _libc_sync_file_range()


def start_writeback(fd: int, offset: int, length: int) -> None:
    """Ask the kernel to start writing `length` bytes at `offset` to disk (no waiting)."""
    if _SYNC_FILE_RANGE is not None:
        _SYNC_FILE_RANGE(fd, offset, length, _SYNC_FILE_RANGE_WRITE)  # type: ignore[operator]


class Flusher:
    """fsyncs and closes written files in the background; `wait` makes them all durable."""

    def __init__(self, workers: int = 2) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fsync")
        self._pending: list[Future[None]] = []
        self._slots = threading.BoundedSemaphore(MAX_PENDING)
        self._lock = threading.Lock()

    def submit(self, fd: int, what: str) -> None:
        """Take `fd` (written, still open): fsync then close it, later."""
        self._slots.acquire()
        future = self._pool.submit(self._flush, fd, what)
        with self._lock:
            self._pending.append(future)

    def _flush(self, fd: int, what: str) -> None:
        try:
            os.fsync(fd)
        except OSError as exc:
            raise staging_failed(what, exc) from exc
        finally:
            os.close(fd)
            self._slots.release()

    def wait(self) -> None:
        """Every submitted file is on disk (or the first failure is raised)."""
        with self._lock:
            pending, self._pending = self._pending, []
        for future in pending:
            future.result()

    def close(self) -> None:
        try:
            self.wait()
        finally:
            self._pool.shutdown(wait=True)
