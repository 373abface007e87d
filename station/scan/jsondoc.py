"""Strict JSON for documents found in images and OSV exports: the station's one loader.

`station.bundle.strict_json` refuses duplicate and case-colliding keys, NaN, huge numbers,
lone surrogates and deep nesting; this module only turns its refusal into the scanner's
`JsonError`.
"""

from __future__ import annotations

from typing import Any

from station.bundle import strict_json
from station.errors import BundleError


class JsonError(ValueError):
    """The bytes are not one strict JSON document."""


def load_strict(data: bytes) -> Any:
    """Parse `data` (UTF-8) strictly; raise JsonError with a short reason otherwise."""
    try:
        return strict_json.loads(data, label="", what="the document")
    except BundleError as exc:
        raise JsonError(exc.message.removeprefix(": the document is not valid JSON: ")
                        .removeprefix(": ")) from None
