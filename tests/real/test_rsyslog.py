"""The audit trail leaves the box: station → the kiosk's rsyslog (the shipped drop-in, on its
own socket) → TCP on 127.0.0.1 → a collector rsyslog (the shipped collector config) → files.
The collector's copy of the records verifies with `station audit verify`, and each field it
parsed from the RFC 5424 structured data is the record's, escaping undone."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import syslog
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from station.audit import AuditLog

PACKAGING = Path(__file__).resolve().parents[2] / "packaging" / "rsyslog"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for(predicate: object, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class Rsyslogd:
    def __init__(self, folder: Path, body: str) -> None:
        folder.mkdir(parents=True)
        self.folder = folder
        self.pidfile = folder / "rsyslogd.pid"
        conf = folder / "rsyslog.conf"
        conf.write_text(
            f'global(workDirectory="{folder}" maxMessageSize="64k")\n'
            'module(load="imuxsock" SysSock.Use="off")\n' + body
        )
        check = subprocess.run(["rsyslogd", "-N1", "-f", str(conf)], capture_output=True,
                               text=True, check=False)
        assert check.returncode == 0, check.stderr
        self.process = subprocess.Popen(
            ["rsyslogd", "-n", "-f", str(conf), "-i", str(self.pidfile)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )

    def stop(self) -> None:
        os.kill(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()


@pytest.fixture
def rsyslog_pair(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    if shutil.which("rsyslogd") is None:
        reason = "rsyslogd is not installed (Debian package rsyslog)"
        print(f"skipping: {reason}")
        pytest.skip(reason)
    base = Path(f"/tmp/rs-{os.getpid()}-{tmp_path.name[-12:]}")  # short socket paths
    port = _free_port()
    logs = base / "collected"
    collector_conf = (PACKAGING / "station-collector.conf").read_text()
    collector_conf = collector_conf.replace('port="6514"', f'port="{port}" address="127.0.0.1"')
    collector_conf = collector_conf.replace("/var/log/station", str(logs))
    kiosk_conf = (PACKAGING / "10-station-forward.conf").read_text()
    sock = base / "kiosk" / "syslog.sock"
    kiosk_conf = kiosk_conf.replace("/run/station/syslog.sock", str(sock))
    kiosk_conf = kiosk_conf.replace('target="collector.example" port="6514"',
                                    f'target="127.0.0.1" port="{port}"')
    collector = Rsyslogd(base / "collector", collector_conf)
    kiosk = None
    try:
        _wait_for(lambda: _listening(port), "the collector's TCP port")
        kiosk = Rsyslogd(base / "kiosk", kiosk_conf)
        _wait_for(sock.exists, "the kiosk's socket")
        yield sock, logs
    finally:
        if kiosk is not None:
            kiosk.stop()
        collector.stop()
        shutil.rmtree(base, ignore_errors=True)


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_records_reach_the_collector_and_verify_there(
    rsyslog_pair: tuple[Path, Path], tmp_path: Path
) -> None:
    sock, logs = rsyslog_pair
    log = AuditLog(tmp_path / "audit.log", syslog_facility=syslog.LOG_LOCAL0,
                   syslog_socket=str(sock))
    written = [
        log.append("login", actor='al"i]c\\e', where="kiosk"),
        log.append("media-inserted", device={"vendor": "Sän]Disk \"x\"", "size": 8}),
        log.append("abort", reason="removed ] \\ \" ünïcode ✓", state="verifying"),
    ]
    host = socket.gethostname()
    records_file = logs / host / "audit.log"
    fields_file = logs / host / "fields.json"
    _wait_for(lambda: fields_file.exists() and len(fields_file.read_text().splitlines()) == 3,
              "three records at the collector")
    home = tmp_path / "collector-copy"
    home.mkdir()
    shutil.copy(records_file, home / "audit.log")
    assert records_file.read_bytes() == log.path.read_bytes()  # byte for byte the log
    check = AuditLog(home / "audit.log").verify()
    assert check.ok and check.records == 3 and check.head == written[-1]["hash"]
    parsed = [json.loads(line) for line in fields_file.read_text().splitlines()]
    for record, fields in zip(written, parsed, strict=True):
        expected = {
            key: value if isinstance(value, str) else json.dumps(
                value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            for key, value in record.items() if value is not None
        }
        assert fields == expected
