"""Errors whose message is written for the operator, with what to do next.

Every failure that reaches a user is a `StationError`: the CLI prints it without a traceback
and the kiosk shows it on an error screen. There is no code path where an error means "accept".
"""

from __future__ import annotations


class StationError(Exception):
    """A failure with a message for the operator and, where useful, the next step."""

    exit_code = 2

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if self.hint is None else f"{self.message} ({self.hint})"


class UsageError(StationError):
    """The command or its arguments are wrong."""


class MediaError(StationError):
    """The media cannot be read, or vanished while it was being read."""


class BundleError(StationError):
    """The media does not hold a bundle that can be read (no manifest, malformed manifest)."""


class UnsafePathError(BundleError):
    """A path on the media is not acceptable (see `station.bundle.safety`)."""


class VerificationError(StationError):
    """Verification could not reach a verdict (not the same as a rejection)."""


class Cancelled(StationError):
    """The operator, or the removal of the media, stopped long work."""

    def __init__(self, message: str = "cancelled") -> None:
        super().__init__(message)
