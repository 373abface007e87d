"""Shared fixtures: a signer with its own trust folder, and genuine bundles to tamper with."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.builders import Signer, make_signer


@pytest.fixture
def signer(tmp_path: Path) -> Signer:
    return make_signer(tmp_path, "alice")
