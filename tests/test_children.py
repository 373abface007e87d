"""Children die with the station: a stand-in station process is killed with SIGKILL while a
real child it started runs; the child must be gone. Also: stops and timeouts kill the child's
whole process group, and nothing in station/ starts a process any other way."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from station.children import run_child
from station.errors import Cancelled

STATION_DIR = Path(__file__).resolve().parent.parent / "station"


def _gone(pid: int, within: float = 5.0) -> bool:
    """The process ended (a zombie waiting for its new parent to reap it counts as ended)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


def _stand_in(start: str) -> subprocess.Popen[str]:
    """A station-like process: a worker thread starts `sleep 300` and waits for it, as the
    kiosk's import worker waits for skopeo; the main thread waits too."""
    code = textwrap.dedent(
        f"""
        import subprocess, threading, time
        from station.children import run_child

        def work():
            {start}

        threading.Thread(target=work).start()
        print("running", flush=True)
        time.sleep(600)
        """
    )
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)


def _sleep_child(parent: subprocess.Popen[str]) -> psutil.Process:
    assert parent.stdout is not None and parent.stdout.readline() == "running\n"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = [c for c in psutil.Process(parent.pid).children() if c.name() == "sleep"]
        if found:
            return found[0]
        time.sleep(0.05)
    raise AssertionError("the stand-in started no child")


def test_a_child_dies_when_the_station_is_killed() -> None:
    station = _stand_in('run_child(["sleep", "300"])')
    try:
        child = _sleep_child(station)
        station.kill()  # SIGKILL: no handler, no finally, no atexit runs
        station.wait()
        assert _gone(child.pid), "the child outlived the station"
    finally:
        station.kill()
        station.wait()


def test_without_the_wrapper_the_child_would_outlive_the_station() -> None:
    """The failure `station.children` exists for: a plain Popen child lives on alone."""
    station = _stand_in('subprocess.Popen(["sleep", "300"]).wait()')
    child = _sleep_child(station)
    try:
        station.kill()
        station.wait()
        assert not _gone(child.pid, within=1.0)
    finally:
        child.kill()


def test_a_timeout_kills_the_childs_whole_process_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild.pid"
    script = f"sleep 300 & echo $! > {pid_file}; wait"
    with pytest.raises(subprocess.TimeoutExpired):
        run_child(["sh", "-c", script], timeout=1.0)
    grandchild = int(pid_file.read_text())
    assert _gone(grandchild), "the shell's own child survived the timeout"


def test_a_stop_request_kills_the_child_and_says_why(tmp_path: Path) -> None:
    import threading

    cancel = threading.Event()
    threading.Timer(0.5, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(Cancelled, match="import stopped"):
        run_child(["sleep", "300"], cancel=cancel, cancel_message="import stopped")
    assert time.monotonic() - started < 5


def test_run_child_returns_output_status_and_feeds_input() -> None:
    result = run_child(["sh", "-c", "cat; echo err >&2; exit 3"], input=b"hello")
    assert (result.returncode, result.stdout, result.stderr) == (3, b"hello", b"err\n")


_SPAWNERS = {
    ("subprocess", "run"), ("subprocess", "Popen"), ("subprocess", "call"),
    ("subprocess", "check_call"), ("subprocess", "check_output"),
    ("subprocess", "getoutput"), ("subprocess", "getstatusoutput"),
    ("os", "system"), ("os", "popen"), ("os", "fork"), ("os", "forkpty"),
    ("os", "posix_spawn"), ("os", "posix_spawnp"),
}


def test_station_starts_processes_only_through_station_children() -> None:
    offenders = []
    for path in sorted(STATION_DIR.rglob("*.py")):
        if path.name == "children.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and (
                    (node.func.value.id, node.func.attr) in _SPAWNERS
                    or (node.func.value.id == "os" and node.func.attr.startswith(("exec", "spawn")))
                )
            ):
                offenders.append(f"{path.relative_to(STATION_DIR.parent)}:{node.lineno}")
    assert offenders == [], "start children with station.children.run_child / start_child"
