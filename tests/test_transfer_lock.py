"""One transfer per station home: two real `station import` processes, a killed holder, a
start-up beside a living transfer, and the lock kept while an aborted step still runs."""

from __future__ import annotations

import fcntl
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import termios
import threading
import time
from functools import partial
from pathlib import Path

import pytest

from station.approval import OperatorStore
from station.audit import AuditLog
from station.errors import StationError
from station.lock import TransferBusy, TransferLock, holder
from station.progress import Progress
from station.publish.bundle import create_bundle
from station.station import Station
from station.workflow import TransferState
from tests.builders import ROLLBACK_CONFIG, Signer, sequenced_bundle
from tests.importing_builders import APP, DB, oci_archive

STATION = [sys.executable, "-m", "station.cli.main"]
ALICE = ("alice", "alice-pin-1")
VICTOR = ("victor", "victor-pin-2")


def _env(home: Path) -> dict[str, str]:
    env = {**os.environ, "STATION_HOME": str(home)}
    env.pop("STATION_DEBUG", None)
    return env


def _home(tmp_path: Path, signer: Signer) -> Path:
    home = tmp_path / "home"
    (home / "trust").mkdir(parents=True)
    shutil.copy(signer.public, home / "trust")
    (home / "station.toml").write_text('[audit]\nsyslog = "off"\n')
    operators = OperatorStore(home / "operators.toml")
    operators.add(ALICE[0], "operator", ALICE[1])
    operators.add(VICTOR[0], "verifier", VICTOR[1])
    return home


@pytest.fixture
def media(tmp_path: Path, signer: Signer) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    archive = oci_archive(work, work / "apps.tar", {APP: 3000, DB: 5000})
    out = tmp_path / "media"
    create_bundle(out, secret_key=signer.secret, image_archives=[archive], name="apps")
    return out


class Terminal:
    """A `station` command on a pseudo-terminal of its own, as an operator runs it."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.master, slave = os.openpty()

        def controlling_terminal() -> None:
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.process = subprocess.Popen(
            args, stdin=slave, stdout=slave, stderr=slave, env=env,
            preexec_fn=controlling_terminal,
        )
        os.close(slave)
        self.output = ""

    def expect(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output:
            left = deadline - time.monotonic()
            assert left > 0, f"waited for {text!r}; the terminal shows:\n{self.output}"
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:  # the command ended and closed the terminal
                    chunk = b""
                assert chunk, f"ended before {text!r}; the terminal shows:\n{self.output}"
                self.output += chunk.decode("utf-8", "replace")

    def type(self, line: str) -> None:
        os.write(self.master, line.encode() + b"\n")

    def finish(self, timeout: float = 120) -> int:
        deadline = time.monotonic() + timeout
        while self.process.poll() is None and time.monotonic() < deadline:
            ready, _, _ = select.select([self.master], [], [], 0.2)
            if ready:
                try:
                    self.output += os.read(self.master, 4096).decode("utf-8", "replace")
                except OSError:
                    break
        code = self.process.wait(timeout=max(1.0, deadline - time.monotonic()))
        os.close(self.master)
        return code


def test_a_second_import_in_the_same_home_is_refused_and_the_first_completes(
    tmp_path: Path, signer: Signer, media: Path
) -> None:
    home = _home(tmp_path, signer)
    first = Terminal([*STATION, "import", str(media), "--json"], _env(home))
    try:
        # The first import has verified and staged the bundle and waits for the operators.
        first.expect("First operator name:")
        staged = list((home / "staging").iterdir())
        assert len(staged) == 1

        # The same genuine bundle imported again meanwhile, as in the field report.
        second = subprocess.run(
            [*STATION, "import", str(media), "--json"],
            capture_output=True, text=True, env=_env(home), timeout=120, stdin=subprocess.DEVNULL,
        )
        assert second.returncode == 2, second.stderr
        assert second.stdout == ""
        assert "another transfer is running in the station home" in second.stderr
        assert f"station import {media} --json" in second.stderr  # which transfer...
        assert "since 20" in second.stderr  # ...and since when
        assert "Traceback" not in second.stderr
        assert list((home / "staging").iterdir()) == staged  # the first's staging untouched

        digest = json.loads((home / "transfer.lock").read_text())["digest"]
        first.type(ALICE[0])
        first.expect("PIN for alice")
        first.type(ALICE[1])
        first.expect("Second operator name:")
        first.type(VICTOR[0])
        first.expect("PIN for victor")
        first.type(VICTOR[1])
        first.expect("Last 8 characters")
        first.type(digest[-8:])
        assert first.finish() == 0, first.output
    finally:
        if first.process.poll() is None:
            first.process.kill()
            first.process.wait()
    assert '"imported": true' in first.output

    records = list(AuditLog(home / "audit.log").records())
    verdicts = [r["verdict"] for r in records if r["event"] == "verification"]
    assert verdicts == ["accepted"]  # never recorded as rejected
    assert [r["event"] for r in records].count("import-done") == 1
    started = [r for r in records if r["event"] == "station-started"]
    assert started[1]["staging_cleaned"] == 0  # the second start-up left staging alone
    assert "station import" in started[1]["staging_in_use_by"]
    assert holder(home) is None  # released at the end
    assert list((home / "staging").iterdir()) == []


def test_a_killed_holder_leaves_no_lock_behind(tmp_path: Path) -> None:
    script = (
        "import sys, time; from pathlib import Path; from station.lock import TransferLock\n"
        "lock = TransferLock.acquire(Path(sys.argv[1]), command='station import /media/x')\n"
        "lock.describe_as(transfer='t-1', digest='sha256:' + 'ab' * 32)\n"
        "print('held', flush=True); time.sleep(600)\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None and child.stdout.readline() == "held\n"
        with pytest.raises(TransferBusy) as busy:
            TransferLock.acquire(tmp_path, command="station import /media/y")
        message = str(busy.value)
        assert "transfer t-1 (bundle sha256:abab" in message
        assert "`station import /media/x`" in message and f"(pid {child.pid})" in message
        assert busy.value.exit_code == 2
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert holder(tmp_path) is None  # the kernel dropped the flock with the process
    with TransferLock.acquire(tmp_path, command="next") as lock:
        assert lock.held


def test_start_up_cleans_only_staging_that_no_living_transfer_owns(
    tmp_path: Path, signer: Signer, media: Path
) -> None:
    home = _home(tmp_path, signer)
    station = Station.open(home)
    transfer = station.new_transfer(media)
    transfer.inspect()
    assert transfer.verify().accepted
    assert transfer.verification is not None and transfer.verification.staged is not None
    staged = transfer.verification.staged.root

    # A second station process (the kiosk restarting, a CLI command) starts meanwhile.
    again = subprocess.run(
        [*STATION, "import", str(media)], capture_output=True, text=True, env=_env(home),
        timeout=120, stdin=subprocess.DEVNULL,
    )
    assert again.returncode == 2 and "another transfer is running" in again.stderr
    assert staged.is_dir() and any(staged.iterdir())

    transfer.abort("operators stopped")
    assert not staged.exists()
    leftover = home / "staging" / "deadbeef"
    leftover.mkdir()
    reopened = Station.open(home)  # nobody holds the home now: leftovers go
    assert not leftover.exists()
    records = list(reopened.audit.records())
    started = [r for r in records if r["event"] == "station-started"]
    assert [r["staging_cleaned"] for r in started] == [0, 0, 1]
    assert "staging_in_use_by" in started[1] and "staging_in_use_by" not in started[2]


def test_station_verify_stages_nothing_and_needs_no_lock(
    tmp_path: Path, signer: Signer, media: Path
) -> None:
    home = _home(tmp_path, signer)
    with TransferLock.acquire(home, command="station-kiosk"):
        result = subprocess.run(
            [*STATION, "verify", str(media)], capture_output=True, text=True, env=_env(home),
            timeout=120,
        )
    assert result.returncode == 0, result.stderr


def test_an_aborted_verification_keeps_the_home_until_it_has_stopped(
    tmp_path: Path, signer: Signer
) -> None:
    home = _home(tmp_path, signer)
    payload = tmp_path / "big.bin"
    with payload.open("wb") as out:
        out.truncate(64 * 1024 * 1024)
    stick = tmp_path / "stick"
    create_bundle(stick, secret_key=signer.secret, files=[payload], name="big")
    station = Station.open(home)
    transfer = station.new_transfer(stick)
    transfer.inspect()
    hashing, go_on = threading.Event(), threading.Event()

    def slow(progress: Progress) -> None:
        hashing.set()
        go_on.wait(30)

    failure: list[BaseException] = []

    def verify() -> None:
        try:
            transfer.verify(on_progress=slow)
        except StationError as exc:
            failure.append(exc)

    worker = threading.Thread(target=verify)
    worker.start()
    try:
        assert hashing.wait(30)
        transfer.abort("the media was removed")
        assert transfer.state is TransferState.ABORTED
        # Final, but its hashing thread still writes into staging: the home stays taken.
        with pytest.raises(TransferBusy, match=transfer.id):
            station.new_transfer(stick)
    finally:
        go_on.set()
        worker.join(30)
    assert failure, "the aborted verification should stop with an error"
    assert holder(home) is None
    assert list((home / "staging").iterdir()) == []
    station.new_transfer(stick).abort("test over")


def test_each_final_state_lets_the_home_go_and_an_override_takes_it_again(
    tmp_path: Path, signer: Signer
) -> None:
    home = _home(tmp_path, signer)
    (home / "station.toml").write_text(ROLLBACK_CONFIG)
    OperatorStore(home / "operators.toml").add("ada", "admin", "ada-pin-3")
    notes = tmp_path / "notes.txt"
    notes.write_text("n\n")
    bundle = partial(sequenced_bundle, tmp_path, signer, [notes])

    station = Station.open(home)
    new = station.new_transfer(bundle(5))
    new.inspect()
    assert new.verify().accepted
    assert new.verification is not None
    new.approve(*ALICE)
    new.approve(*VICTOR, typed_suffix=new.verification.bundle_digest[-8:])
    new.import_into(station.targets()[0])
    assert new.state is TransferState.DONE and holder(home) is None

    old = station.new_transfer(bundle(4))
    old.inspect()
    old.verify()
    assert old.state is TransferState.REJECTED and holder(home) is None
    blocker = TransferLock.acquire(home, command="station import /elsewhere")
    with pytest.raises(TransferBusy):
        old.override_rollback("ada", "ada-pin-3", "vendor re-issued release 4")
    assert old.state is TransferState.REJECTED
    blocker.release()
    old.override_rollback("ada", "ada-pin-3", "vendor re-issued release 4")
    assert old.state is TransferState.INSPECTED
    found = holder(home)
    assert found is not None and found.transfer == old.id
    old.abort("test over")
    assert holder(home) is None
