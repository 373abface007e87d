"""Real servers for the tests under tests/real: a private dockerd, docker-registries, clamd."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.real.clamd_server import ClamdServer, can_run_clamd, cleanup, start_clamd
from tests.real.servers import Dockerd, Registry, can_run_dockerd, start_dockerd, start_registry


@contextlib.contextmanager
def _private_dockerd() -> Iterator[Dockerd]:
    reason = can_run_dockerd()
    if reason is not None:
        print(f"skipping: {reason}")
        pytest.skip(reason)
    root = Path(tempfile.mkdtemp(prefix="dk-", dir="/tmp"))  # short: socket path limit
    server = start_dockerd(root)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def dockerd() -> Iterator[Dockerd]:
    """One dockerd for the session (it takes a second or two to start)."""
    with _private_dockerd() as server:
        yield server


@pytest.fixture
def own_dockerd() -> Iterator[Dockerd]:
    """A dockerd of the test's own, which it may stop, kill and start again."""
    with _private_dockerd() as server:
        yield server


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    """A docker-registry of its own on 127.0.0.1, storing in the test's temp folder."""
    if shutil.which("docker-registry") is None:
        reason = "docker-registry is not installed (Debian package docker-registry)"
        print(f"skipping: {reason}")
        pytest.skip(reason)
    server = start_registry(tmp_path / "registry")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def need_skopeo() -> None:
    if shutil.which("skopeo") is None:
        print("skipping: skopeo is not installed")
        pytest.skip("skopeo is not installed (Debian package skopeo)")


@pytest.fixture
def clamd_server() -> Iterator[ClamdServer]:
    """A clamd of the test's own (Debian clamav-daemon) on test-made databases: `test.hdb`
    (EICAR's MD5) and `test.ndb` (a marker string); StreamMaxLength and MaxFileSize 1 MiB."""
    reason = can_run_clamd()
    if reason is not None:
        print(f"skipping: {reason}")
        pytest.skip(reason)
    server = start_clamd()
    try:
        yield server
    finally:
        cleanup(server)
