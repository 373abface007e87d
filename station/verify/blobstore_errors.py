"""The one error of the station's own staging folder (not the media's fault)."""

from __future__ import annotations

import errno

from station.errors import StationError


class StagingError(StationError):
    """The station's own staging folder failed (full disk, I/O error): not the media's fault."""


def staging_failed(what: str, exc: OSError) -> StagingError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return StagingError(
            f"no space left in the station's staging folder while writing {what}",
            hint="free space on the station (old transfers are cleaned at start-up), "
            "then verify again",
        )
    return StagingError(f"cannot write {what} into staging: {exc.strerror or exc}")
