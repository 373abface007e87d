"""os-release (`etc/os-release`, else `usr/lib/os-release`): which distribution and release.

Shell-style `KEY=value` lines, values optionally quoted; only `ID` and `VERSION_ID` are used.
"""

from __future__ import annotations

import shlex

from station.scan.model import Distro

PATHS = ("etc/os-release", "usr/lib/os-release")


def parse(data: bytes) -> Distro | None:
    values: dict[str, str] = {}
    for line in data.decode("utf-8", errors="replace").splitlines():
        key, sep, raw = line.strip().partition("=")
        if not sep or key not in ("ID", "VERSION_ID"):
            continue
        try:
            words = shlex.split(raw)
        except ValueError:
            continue
        values[key] = words[0] if len(words) == 1 else ""
    distro_id = values.get("ID", "").lower()
    if not distro_id:
        return None
    return Distro(distro_id[:64], values.get("VERSION_ID", "")[:64])
