"""Child processes that die with the station: the one way `station/` starts a program.

skopeo, gpg/gpgv, the media helper and whatever follows run as children. If the station is
killed (SIGKILL, OOM killer, a power button on the kiosk's service), a child that goes on
alone finishes a push nobody audits or checks. So every child starts here:

- in a session and process group of its own (`start_new_session`), so a stop or a timeout
  kills the child and anything it started (`os.killpg`), and a terminal's Ctrl-C reaches the
  station, which then stops its children itself;
- with the kernel's parent-death signal set to SIGKILL (`prctl(PR_SET_PDEATHSIG)`, through
  ctypes in `preexec_fn`; no library needed for one system call). The kernel sends it when the
  *thread* that started the child ends, so `run_child` waits in that thread, and a caller of
  `start_child` must wait for the child in the thread that started it.

What cannot be covered: a setuid program (`sudo` for the media helper) has its parent-death
signal cleared by the kernel on exec. The helper's work is bounded by a timeout and is done in
seconds; its own children (blockdev, mount) start through this module inside it.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence

from station.progress import check_cancel

PR_SET_PDEATHSIG = 1
POLL_SECONDS = 0.2


def _load_prctl() -> Callable[..., int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None  # not Linux: process groups still apply
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong,
                      ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    return prctl


_PRCTL = _load_prctl()  # bound in the parent: the child only makes the call


def _die_with(parent: int) -> Callable[[], None]:
    """Runs in the child between fork and exec: as little as possible, no allocation-heavy
    Python, no locks."""

    def arm() -> None:
        if _PRCTL is not None:
            _PRCTL(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the station died before the signal was armed
            os.kill(os.getpid(), signal.SIGKILL)

    return arm


def start_child(
    argv: Sequence[str],
    *,
    stdin: int | None = subprocess.DEVNULL,
    stdout: int | None = subprocess.PIPE,
    stderr: int | None = subprocess.PIPE,
    env: Mapping[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start `argv` in its own process group, killed by the kernel if the station dies.

    Wait for it in the thread that called this (see the module docstring); `stop_child`
    ends it and its process group.
    """
    return subprocess.Popen(
        list(argv),
        stdin=stdin,
        stdout=stdout,
        stderr=stderr,
        env=dict(env) if env is not None else None,
        start_new_session=True,
        preexec_fn=_die_with(os.getpid()),  # a system call and a check, no locks
    )


def stop_child(process: subprocess.Popen[bytes]) -> None:
    """Kill the child's whole process group and reap the child; harmless if it has ended."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass  # already gone (not yet reaped)
    except PermissionError:  # a setuid child (sudo) runs as root: signal the child alone
        with contextlib.suppress(OSError):
            process.kill()
    process.wait()


def run_child(
    argv: Sequence[str],
    *,
    input: bytes | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    cancel: threading.Event | None = None,
    cancel_message: str = "stopped",
    while_running: Callable[[int], None] | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run `argv` to its end and return its exit status and output (bytes).

    Raises `subprocess.TimeoutExpired` after `timeout` seconds, `Cancelled` (with
    `cancel_message`) when `cancel` is set, and lets any other exception (KeyboardInterrupt)
    through; in each case the child's process group is killed first. `OSError` when the
    program cannot be started. `while_running(pid)` is called every POLL_SECONDS until the
    child ends (to follow its progress from outside).
    """
    process = start_child(
        argv, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL, env=env
    )
    deadline = None if timeout is None else _now() + timeout
    try:
        while True:
            polling = cancel is not None or while_running is not None
            wait = POLL_SECONDS if polling else None
            if deadline is not None:
                left = max(0.0, deadline - _now())
                wait = left if wait is None else min(wait, left)
            try:
                stdout, stderr = process.communicate(input, timeout=wait)
                break
            except subprocess.TimeoutExpired:
                if deadline is not None and _now() >= deadline:
                    raise subprocess.TimeoutExpired(list(argv), timeout or 0.0) from None
                check_cancel(cancel, cancel_message)
                if while_running is not None:
                    while_running(process.pid)
    except BaseException:
        stop_child(process)
        raise
    return subprocess.CompletedProcess(list(argv), process.returncode, stdout, stderr)


def _now() -> float:
    return time.monotonic()
