"""Errors of the scanner and its vulnerability database, written for the operator."""

from __future__ import annotations

from station.errors import StationError


class ScanError(StationError):
    """An image could not be scanned (unreadable layout, layer or reference not found)."""


class VulnDBError(StationError):
    """The vulnerability database cannot be read or installed."""


class NoDatabase(VulnDBError):
    """No vulnerability database is installed: a scan would prove nothing."""


class NotAnExport(VulnDBError):
    """The file is not an OSV export zip, or one of its records cannot be read strictly."""


class OlderExport(VulnDBError):
    """The export is older than the installed one for an ecosystem: never go back."""
