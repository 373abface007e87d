"""Real servers for the tests under tests/real: a private dockerd and docker-registries."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.real.servers import Dockerd, Registry, can_run_dockerd, start_dockerd, start_registry


@pytest.fixture(scope="session")
def dockerd() -> Iterator[Dockerd]:
    """One dockerd for the session (it takes a second or two to start)."""
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
