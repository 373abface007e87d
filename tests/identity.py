"""A station home with its own identity (station key), as `station keys station-init` makes."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from station.approval import OperatorStore
from station.signing import SignerPaths, generate_station_key
from station.station import Station
from tests.builders import Signer

ALICE = ("alice", "alice-pin-1")
VICTOR = ("victor", "victor-pin-2")


@dataclass(frozen=True)
class KeyedHome:
    home: Path
    signer_dir: Path

    @property
    def public(self) -> Path:
        return self.home / "station.pub"

    @property
    def log(self) -> Path:
        return self.home / "audit.log"

    @property
    def anchor(self) -> Path:
        return self.signer_dir / "checkpoint.json"


def keyed_home(base: Path, signer: Signer, *, checkpoint_every: int = 100) -> KeyedHome:
    home, signer_dir = base / "home", base / "signer"
    (home / "trust").mkdir(parents=True)
    shutil.copy(signer.public, home / "trust")
    (home / "station.toml").write_text(
        f'[audit]\nsyslog = "off"\nsigner_dir = "{signer_dir}"\n'
        f"checkpoint_every = {checkpoint_every}\n"
    )
    generate_station_key(SignerPaths(home, signer_dir))
    return KeyedHome(home, signer_dir)


def open_with_operators(keyed: KeyedHome) -> Station:
    station = Station.open(keyed.home)
    operators = OperatorStore.from_config(station.config)
    operators.add(ALICE[0], "operator", ALICE[1])
    operators.add(VICTOR[0], "verifier", VICTOR[1])
    return station
