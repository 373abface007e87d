"""A private clamd for tests: Debian's clamav-daemon on its own socket, folder and databases.

No internet database: the test databases are written here. `test.hdb` holds the MD5 and size
of the EICAR test string, `test.ndb` a body signature for a marker string; both are what a
site would write for its own signatures. clamd runs in the foreground with `Foreground yes`,
its own `LocalSocket`, `PidFile` and `DatabaseDirectory`, and is stopped by its PID.
"""

from __future__ import annotations

import hashlib
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

EICAR = (b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*")
EICAR_SIGNATURE = "Station.Test.EICAR"
MARKER = b"transfer-station test malware marker 7f3a"
MARKER_SIGNATURE = "Station.Test.Marker"

CONFIG = """\
LocalSocket {socket}
PidFile {root}/clamd.pid
DatabaseDirectory {databases}
TemporaryDirectory {root}/tmp
LogFile {root}/clamd.log
LogTime yes
Foreground yes
StreamMaxLength {stream_max}
MaxFileSize {file_max}
MaxScanSize {scan_max}
AlertExceedsMax yes
DisableCache {disable_cache}
SelfCheck 0
"""


def hdb_line(data: bytes, name: str) -> str:
    """A ClamAV hash signature: MD5 and size of the whole file."""
    return f"{hashlib.md5(data).hexdigest()}:{len(data)}:{name}\n"  # noqa: S324


def ndb_line(data: bytes, name: str) -> str:
    """A ClamAV body signature: these bytes anywhere in any file."""
    return f"{name}:0:*:{data.hex()}\n"


def write_test_databases(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "test.hdb").write_text(hdb_line(EICAR, EICAR_SIGNATURE))
    (folder / "test.ndb").write_text(ndb_line(MARKER, MARKER_SIGNATURE))


def can_run_clamd() -> str | None:
    """None when clamd can run here, else the reason to skip."""
    if shutil.which("clamd") is None:
        return "clamd is not installed (Debian package clamav-daemon)"
    return None


@dataclass
class ClamdServer:
    """A clamd of a test's own; `url` is what `[malware] clamd` would say."""

    root: Path
    databases: Path
    stream_max: str = "1M"
    file_max: str = "1M"
    scan_max: str = "4M"
    disable_cache: bool = False
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def socket_path(self) -> Path:
        return self.root / "clamd.sock"

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    @property
    def log(self) -> Path:
        return self.root / "clamd.log"

    def start(self, timeout: float = 60) -> ClamdServer:
        (self.root / "tmp").mkdir(parents=True, exist_ok=True)
        config = self.root / "clamd.conf"
        config.write_text(CONFIG.format(
            socket=self.socket_path, root=self.root, databases=self.databases,
            stream_max=self.stream_max, file_max=self.file_max, scan_max=self.scan_max,
            disable_cache="yes" if self.disable_cache else "no",
        ))
        with open(self.root / "clamd.out", "ab") as out:
            self.process = subprocess.Popen(["clamd", "-c", str(config)], stdout=out,
                                            stderr=out)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"clamd exited with {self.process.returncode}:\n"
                                   + (self.root / "clamd.out").read_text())
            if self.answers():
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"clamd did not answer PING in {timeout} s")

    def answers(self) -> bool:
        try:
            with socket.socket(socket.AF_UNIX) as sock:
                sock.settimeout(1)
                sock.connect(str(self.socket_path))
                sock.sendall(b"zPING\0")
                return sock.recv(16) == b"PONG\0"
        except OSError:
            return False

    def pid(self) -> int | None:
        try:
            return int((self.root / "clamd.pid").read_text().strip())
        except (OSError, ValueError):
            return self.process.pid if self.process else None

    def stop(self) -> None:
        """Stop clamd by its PID (SIGTERM, then SIGKILL after 20 s)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_clamd(root: Path | None = None, **limits: object) -> ClamdServer:
    """A clamd on the test databases, in a short folder under /tmp (socket path limit)."""
    folder = root or Path(tempfile.mkdtemp(prefix="cl-", dir="/tmp"))
    databases = folder / "db"
    write_test_databases(databases)
    server = ClamdServer(folder, databases, **limits)  # type: ignore[arg-type]
    return server.start()


def cleanup(server: ClamdServer) -> None:
    server.stop()
    shutil.rmtree(server.root, ignore_errors=True)

