"""A station killed while writing the audit log leaves a chain that still verifies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from station.audit import AuditLog

WRITER = """
import sys
from station.audit import AuditLog
log = AuditLog(sys.argv[1])
filler = "x" * int(sys.argv[2])
n = 0
while True:
    n += 1
    log.append("import-step", actor="rig", step=n, filler=filler)
    if n == 3:
        print("running", flush=True)
"""


def _kill_writer_mid_stream(path: Path, filler: int) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), str(filler)], stdout=subprocess.PIPE
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == b"running\n"
        time.sleep(0.3)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()


def test_sigkill_during_appends_leaves_a_verifiable_chain(tmp_path: Path) -> None:
    # Linux finishes a regular-file write() before SIGKILL lands, so these rounds end between
    # records; a torn tail (power loss) is simulated byte by byte in test_audit.py.
    for round_ in range(3):
        path = tmp_path / f"audit-{round_}.log"
        _kill_writer_mid_stream(path, filler=4 * 1024 * 1024)
        data = path.read_bytes()
        full_lines = data.count(b"\n")
        check = AuditLog(path).verify()
        assert check.ok, check.describe()
        assert check.records == full_lines >= 3

        AuditLog(path).append("station-started", actor=None)
        after = AuditLog(path).verify()
        assert after.ok, after.describe()
        assert after.records == full_lines + 1 + (1 if check.torn else 0)


def test_log_cut_at_any_byte_of_the_last_record_verifies_and_recovers(tmp_path: Path) -> None:
    """What a power cut can leave: the last record cut anywhere, then the station restarts."""
    path = tmp_path / "audit.log"
    log = AuditLog(path)
    for step in range(3):
        log.append("import-step", actor="rig", step=step)
    full = path.read_bytes()
    last_start = full.rstrip(b"\n").rfind(b"\n") + 1
    for cut in range(last_start + 1, len(full) - 1, 7):
        path.write_bytes(full[:cut])
        check = AuditLog(path).verify()
        assert check.ok and check.records == 2 and check.torn, (cut, check.describe())
        AuditLog(path).append("station-started")
        after = AuditLog(path).verify()
        assert after.ok and after.records == 4 and after.recovered == (3,), after.describe()

    # Cut just before the newline: the record is whole, it counts, the next one follows it.
    path.write_bytes(full[:-1])
    check = AuditLog(path).verify()
    assert check.ok and check.records == 3 and not check.torn
    AuditLog(path).append("station-started")
    after = AuditLog(path).verify()
    assert after.ok and after.records == 4 and after.recovered == ()
