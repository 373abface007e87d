"""Fixtures for the kiosk tests: a real demo station home, built once per session."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from station.demo import DemoHome, build_demo_home


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> DemoHome:
    """Keys, operators and both bundles, built once (scrypt and image building take time)."""
    return build_demo_home(tmp_path_factory.mktemp("demo-template"))


@pytest.fixture
def demo(demo_template: DemoHome, tmp_path: Path) -> DemoHome:
    """A private copy of the demo station, so each test starts with an empty audit log."""
    root = tmp_path / "demo"
    shutil.copytree(demo_template.root, root)
    media = tuple(
        type(m)(m.name, root / m.source.relative_to(demo_template.root), m.description)
        for m in demo_template.media
    )
    return DemoHome(root=root, home=root / "home", media_dir=root / "media", media=media)
