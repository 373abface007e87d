"""Import verified, staged bundles into a target: the embedded store, a Docker engine, a registry.

`make_target("store" | "store=DIR" | "docker" | "docker=SOCKET_URL" | "registry=URL", config)`
builds the target the CLI's `--to` and the kiosk's import screen name; settings not in the
spec come from `[targets.docker]` and `[targets.registry]` in station.toml.
"""

from __future__ import annotations

from pathlib import Path

from station.config import DockerTargetSection, RegistryTargetSection, StationConfig
from station.errors import UsageError
from station.importing.base import (
    ImportFailed,
    ImportPlan,
    ImportStep,
    ImportTarget,
    Receipt,
    StepEvent,
)
from station.importing.references import retag_rules
from station.verify.staged import StagedBundle

__all__ = [
    "ImportFailed",
    "ImportPlan",
    "ImportStep",
    "ImportTarget",
    "Receipt",
    "StagedBundle",
    "StepEvent",
    "make_target",
]

TARGET_KINDS = ("store", "docker", "registry")


def make_target(spec: str, config: StationConfig) -> ImportTarget:
    """The target a `--to` value names, configured from the station config.

    Each target's module is imported only when it is named: the docker SDK alone adds a
    tenth of a second to every `station import --to store`.
    """
    kind, _, value = spec.partition("=")
    targets = config.targets
    work_dir = config.staging_dir / "work"
    if kind == "store":
        from station.importing.store import StoreTarget

        return StoreTarget(Path(value) if value else config.store_dir, config.home)
    if kind == "docker":
        from station.importing.docker_engine import DEFAULT_SOCKET, DockerEngineTarget

        docker = targets.docker or DockerTargetSection()
        return DockerEngineTarget(
            value or docker.url or DEFAULT_SOCKET,
            work_dir=work_dir,
            home=config.home,
            retag_rules=retag_rules(docker.retag),
        )
    if kind == "registry":
        from station.importing.registry import RegistrySettings, RegistryTarget

        registry = targets.registry or RegistryTargetSection()
        url = value or registry.url
        if not url:
            raise UsageError(
                "no registry named",
                hint="use --to registry=URL or set url in [targets.registry]",
            )
        return RegistryTarget(
            RegistrySettings.from_config(url, registry),
            work_dir=work_dir,
            home=config.home,
            retag_rules=retag_rules(registry.retag),
        )
    raise UsageError(
        f"unknown import target {spec!r}",
        hint="use store[=DIR], docker[=SOCKET_URL] or registry=URL",
    )
