"""Real servers for tests: a private dockerd and a docker-registry, on own sockets and ports.

Both come from Debian (`docker.io`, `docker-registry`). Each server gets its own temp folder,
socket or port, and is stopped by its PID when the test is done. dockerd 20.10 starts its own
containerd (under its --exec-root) and stops it when it exits.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REGISTRY_CONFIG = """\
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
"""

TLS_CONFIG = """\
  tls:
    certificate: {certificate}
    key: {key}
"""

AUTH_CONFIG = """\
auth:
  htpasswd:
    realm: station-test
    path: {htpasswd}
"""


@dataclass(frozen=True)
class TlsFiles:
    """A throw-away CA and a server certificate for 127.0.0.1 signed by it."""

    ca: Path
    certificate: Path
    key: Path


def make_tls(folder: Path) -> TlsFiles:
    """Write a CA and a 127.0.0.1 server certificate (valid one day) with `cryptography`."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "station test CA")])
    ca_cert = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    files = TlsFiles(folder / "ca.crt", folder / "server.crt", folder / "server.key")
    files.ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    files.certificate.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    return files


def write_htpasswd(path: Path, username: str, password: str) -> Path:
    """An htpasswd file with one bcrypt entry, as docker-registry requires."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt

    salt = crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)  # noqa: S324 (bcrypt, cheap for tests)
    hashed = crypt.crypt(password, salt)
    path.write_text(f"{username}:{hashed}\n")
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait(check: object, process: subprocess.Popen[bytes], log: Path, what: str,
          timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}:\n{log.read_text()}")
        if check():  # type: ignore[operator]
            return
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"{what} did not start in {timeout} s:\n{log.read_text()}")


def _stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 20) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class Registry:
    """A docker-registry on 127.0.0.1:port storing into `root`; restartable on the same port."""

    root: Path
    port: int
    tls: TlsFiles | None = None
    htpasswd: Path | None = None
    process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.address}"

    def start(self) -> Registry:
        config = self.root / "config.yml"
        text = REGISTRY_CONFIG.format(root=self.root / "data", port=self.port)
        if self.tls is not None:
            text += TLS_CONFIG.format(certificate=self.tls.certificate, key=self.tls.key)
        if self.htpasswd is not None:
            text += AUTH_CONFIG.format(htpasswd=self.htpasswd)
        config.write_text(text)
        log = self.root / "registry.log"
        with open(log, "ab") as out:
            self.process = subprocess.Popen(
                ["docker-registry", "serve", str(config)], stdout=out, stderr=out
            )
        _wait(self._answers, self.process, log, "docker-registry", 20)
        return self

    def _answers(self) -> bool:
        context = ssl.create_default_context(cafile=str(self.tls.ca)) if self.tls else None
        try:
            with urllib.request.urlopen(  # noqa: S310
                f"{self.url}/v2/", timeout=1, context=context
            ) as answer:
                return bool(answer.status == 200)
        except urllib.error.HTTPError as exc:
            return exc.code == 401  # up, and asking for a login
        except (urllib.error.URLError, OSError):
            return False

    def kill(self) -> None:
        """Stop the registry at once, as a crash would."""
        if self.process is not None:
            _stop(self.process, signal.SIGKILL)

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process)


def start_registry(
    root: Path, *, tls: TlsFiles | None = None, htpasswd: Path | None = None
) -> Registry:
    root.mkdir(parents=True, exist_ok=True)
    return Registry(root, free_port(), tls=tls, htpasswd=htpasswd).start()


@dataclass
class Dockerd:
    """A private dockerd with vfs storage and no networking set-up."""

    root: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def socket(self) -> Path:
        return self.root / "docker.sock"

    @property
    def base_url(self) -> str:
        return f"unix://{self.socket}"

    def start(self) -> Dockerd:
        log = self.root / "dockerd.log"
        with open(log, "ab") as out:
            self.process = subprocess.Popen(
                [
                    "dockerd",
                    "--storage-driver=vfs",
                    "--iptables=false",
                    "--ip6tables=false",
                    "--bridge=none",
                    f"--host={self.base_url}",
                    f"--data-root={self.root / 'data'}",
                    f"--exec-root={self.root / 'exec'}",
                    f"--pidfile={self.root / 'dockerd.pid'}",
                ],
                stdout=out,
                stderr=out,
            )
        _wait(self._answers, self.process, log, "dockerd", 60)
        return self

    def _answers(self) -> bool:
        if not self.socket.exists():
            return False
        result = subprocess.run(
            ["docker", "-H", self.base_url, "version", "--format", "{{.Server.Version}}"],
            capture_output=True,
            check=False,
        )
        return result.returncode == 0

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process)


def start_dockerd(root: Path) -> Dockerd:
    """Start dockerd under `root` (kept short: unix socket paths are limited to 108 bytes)."""
    root.mkdir(parents=True, exist_ok=True)
    return Dockerd(root).start()


def missing_tools(*names: str) -> list[str]:
    return [name for name in names if shutil.which(name) is None]


def can_run_dockerd() -> str | None:
    """None when dockerd can run here, else why not (it needs root)."""
    if missing_tools("dockerd", "docker"):
        return "dockerd or docker is not installed (Debian package docker.io)"
    if os.geteuid() != 0:
        return "dockerd needs root to run"
    return None
