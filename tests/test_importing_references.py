"""References as targets name images: retag rules, registry destinations, config errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from station.config import RegistryTargetSection, StationConfig
from station.errors import StationError
from station.importing.references import (
    RetagRule,
    repository_path,
    retag,
    retag_rules,
    split_reference,
)
from station.importing.registry import RegistrySettings

MIRROR = (RetagRule("registry.example.org/ops/", "mirror.local/ops/"),)


def test_a_retag_rule_rewrites_only_names_under_its_prefix() -> None:
    assert retag("registry.example.org/ops/app:1.2", MIRROR) == "mirror.local/ops/app:1.2"
    assert retag("registry.example.org/dev/app:1.2", MIRROR) == "registry.example.org/dev/app:1.2"


def test_retag_rules_come_from_the_config_and_bad_ones_are_named(tmp_path: Path) -> None:
    config = tmp_path / "station.toml"
    config.write_text(
        "[targets.docker]\n"
        'retag = [{from = "registry.example.org/ops/", to = "mirror.local/ops/"}]\n'
    )
    docker = StationConfig.load(tmp_path).targets.docker
    assert docker is not None and retag_rules(docker.retag) == MIRROR
    config.write_text('[targets.docker]\nretag = [{from = "x/"}]\n')
    with pytest.raises(StationError, match=r"\[targets.docker\] retag #1: missing key `to`"):
        StationConfig.load(tmp_path)


@pytest.mark.parametrize(
    ("reference", "repository", "tag"),
    [
        ("registry.example.org:5000/ops/app:1.2", "registry.example.org:5000/ops/app", "1.2"),
        ("app", "app", "latest"),
        ("app@sha256:" + "a" * 64, "app", None),
    ],
)
def test_split_reference(reference: str, repository: str, tag: str | None) -> None:
    assert split_reference(reference) == (repository, tag)


def test_registry_destinations_keep_the_path_and_drop_the_source_host() -> None:
    assert repository_path("registry.example.org/ops/app:1") == "ops/app"
    assert repository_path("library/app:1") == "library/app"
    settings = RegistrySettings.from_config(
        "https://mirror.local:5000/site", RegistryTargetSection()
    )
    assert settings.destination("registry.example.org/ops/app:1.2") == (
        "mirror.local:5000/site/ops/app:1.2"
    )
    assert settings.destination("app@sha256:" + "a" * 64) is None


def test_registry_login_needs_both_username_and_password_file(tmp_path: Path) -> None:
    (tmp_path / "station.toml").write_text('[targets.registry]\nusername = "ops"\n')
    with pytest.raises(StationError, match="username and password_file go together"):
        StationConfig.load(tmp_path)
