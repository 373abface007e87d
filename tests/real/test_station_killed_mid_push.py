"""kill -9 of a real `station import` while its real skopeo child is pushing: skopeo must not
go on alone (it would finish a push nobody audits or reads back), and the home is free again.

The registry is slow on purpose: it answers the API check and the manifest look-ups like a
registry with nothing in it, then never answers the first blob upload, so skopeo is caught
mid-push for as long as the test needs.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psutil
import pytest

from station.audit import AuditLog
from station.lock import holder
from station.publish.bundle import create_bundle
from tests.builders import Signer, scripted_approvals
from tests.importing_builders import APP, oci_archive

pytestmark = [pytest.mark.real, pytest.mark.usefixtures("need_skopeo")]


class StallingRegistry(ThreadingHTTPServer):
    """An empty registry whose blob uploads never get an answer."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.upload_started = threading.Event()
        self.release = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: StallingRegistry

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _answer(self, status: int, body: dict[str, object] | None = None) -> None:
        data = json.dumps(body or {}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Docker-Distribution-API-Version", "registry/2.0")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _unknown(self) -> None:
        code = "MANIFEST_UNKNOWN" if "/manifests/" in self.path else "BLOB_UNKNOWN"
        self._answer(404, {"errors": [{"code": code, "message": code.lower().replace("_", " ")}]})

    def do_GET(self) -> None:
        if self.path.rstrip("/") == "/v2":
            self._answer(200)
        else:
            self._unknown()

    def do_HEAD(self) -> None:
        self._unknown()

    def do_POST(self) -> None:
        self.server.upload_started.set()
        self.server.release.wait(120)  # mid-push, for as long as the test needs


@pytest.fixture
def slow_registry() -> Iterator[StallingRegistry]:
    server = StallingRegistry()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()


def test_kill_9_of_the_station_mid_push_takes_skopeo_with_it(
    tmp_path: Path, signer: Signer, slow_registry: StallingRegistry
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    archive = oci_archive(work, work / "app.tar", {APP: 4000})
    media = tmp_path / "media"
    create_bundle(media, secret_key=signer.secret, image_archives=[archive], name="app")
    home = tmp_path / "home"
    approvals = scripted_approvals(home, media)
    env = {**os.environ, "STATION_HOME": str(home)}
    station = subprocess.Popen(
        [sys.executable, "-m", "station.cli.main", "import", str(media), "--trust",
         str(signer.trust), "--approvals", str(approvals), "--to",
         f"registry={slow_registry.url}"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )
    try:
        assert slow_registry.upload_started.wait(60), station.communicate(timeout=60)
        pushing = [
            p for p in psutil.Process(station.pid).children(recursive=True)
            if p.name() == "skopeo"
        ]
        assert len(pushing) == 1, "skopeo should be pushing now"
        assert "copy" in pushing[0].cmdline()

        os.kill(station.pid, signal.SIGKILL)
        station.wait(timeout=10)

        assert _gone(pushing[0]), "skopeo went on pushing after the station was killed"
    finally:
        if station.poll() is None:
            station.kill()
            station.wait()
    assert holder(home) is None  # the kernel dropped the transfer lock with the station
    events = [r["event"] for r in AuditLog(home / "audit.log").records()]
    assert "import-step" in events and "import-done" not in events


def _gone(process: psutil.Process, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False
