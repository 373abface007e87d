"""The station home and its configuration file.

All state lives under one folder, the station home: `--home DIR`, else `$STATION_HOME`, else
`/var/lib/station`. Inside it: `station.toml` (configuration), `trust/` (public keys),
`staging/` (verified copies of media files), `store/` (the embedded OCI store) and `audit.log`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from station.errors import StationError

DEFAULT_HOME = Path("/var/lib/station")
CONFIG_NAME = "station.toml"


def resolve_home(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The station home: the explicit argument, else `$STATION_HOME`, else the default."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("STATION_HOME")
    if env:
        return Path(env)
    return DEFAULT_HOME


@dataclass(frozen=True)
class Limits:
    """Size caps checked before any byte of a file is read."""

    max_manifest_bytes: int = 16 * 1024 * 1024
    max_file_bytes: int = 64 * 1024**3
    max_bundle_bytes: int = 256 * 1024**3
    max_files: int = 100_000
    max_archive_index_bytes: int = 64 * 1024 * 1024


@dataclass(frozen=True)
class StationConfig:
    """What `station.toml` says, with defaults for anything it leaves out.

    Sections that belong to one part of the station (policy, operators, targets) are kept as
    plain tables here and parsed by that part, so this module stays small.
    """

    home: Path
    limits: Limits = field(default_factory=Limits)
    tables: dict[str, Any] = field(default_factory=dict)

    @property
    def config_path(self) -> Path:
        return self.home / CONFIG_NAME

    @property
    def trust_dir(self) -> Path:
        return Path(self.tables.get("trust", {}).get("dir", self.home / "trust"))

    @property
    def staging_dir(self) -> Path:
        return self.home / "staging"

    @property
    def store_dir(self) -> Path:
        return self.home / "store"

    @property
    def audit_log(self) -> Path:
        return self.home / "audit.log"

    def table(self, name: str) -> dict[str, Any]:
        """One top-level table of `station.toml`, empty when absent."""
        value = self.tables.get(name, {})
        if not isinstance(value, dict):
            raise StationError(f"{self.config_path}: [{name}] must be a table")
        return value

    @classmethod
    def load(cls, home: str | os.PathLike[str] | None = None) -> StationConfig:
        """Read `station.toml` from the home; a missing file means all defaults."""
        root = resolve_home(home)
        path = root / CONFIG_NAME
        tables: dict[str, Any] = {}
        if path.exists():
            import tomllib  # only when there is a file to read

            try:
                tables = tomllib.loads(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
                raise StationError(
                    f"cannot read the station configuration {path}: {exc}",
                    hint="fix or remove the file; defaults apply when it is absent",
                ) from exc
        limits_table = tables.get("limits", {})
        known = set(Limits.__dataclass_fields__)
        unknown = set(limits_table) - known
        if unknown:
            raise StationError(
                f"{path}: unknown keys in [limits]: {', '.join(sorted(unknown))}",
                hint=f"known keys: {', '.join(sorted(known))}",
            )
        try:
            limits = Limits(**{k: int(v) for k, v in limits_table.items()})
        except (TypeError, ValueError) as exc:
            raise StationError(f"{path}: [limits] values must be integers ({exc})") from exc
        return cls(home=root, limits=limits, tables=tables)
