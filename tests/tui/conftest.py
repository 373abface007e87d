"""Fixtures for the kiosk tests: a real demo station home, built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from station.demo import DemoHome, build_demo_home
from tests.tui.helpers import copy_demo


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> DemoHome:
    """Keys, operators and both bundles, built once (scrypt and image building take time)."""
    return build_demo_home(tmp_path_factory.mktemp("demo-template"))


@pytest.fixture
def demo(demo_template: DemoHome, tmp_path: Path) -> DemoHome:
    """A private copy of the demo station, so each test starts with an empty audit log."""
    return copy_demo(demo_template, tmp_path / "demo")
