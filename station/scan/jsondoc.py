"""Strict JSON for documents found in images and OSV exports.

The same strictness as the image documents of station/bundle/oci_json.py, whose hooks it
uses: no duplicate keys (two readers could pick different values), no NaN or Infinity, and
deep nesting refused instead of a RecursionError. When `station.bundle.strict_json` lands on
main (issues 9/12), both should become calls to it.
"""

from __future__ import annotations

import json
from typing import Any

from station.bundle.oci_json import _no_constant, _no_duplicates


class JsonError(ValueError):
    """The bytes are not one strict JSON document."""


def load_strict(data: bytes) -> Any:
    """Parse `data` (UTF-8) strictly; raise JsonError with a short reason otherwise."""
    try:
        return json.loads(
            data.decode("utf-8"), object_pairs_hook=_no_duplicates, parse_constant=_no_constant
        )
    except RecursionError:
        raise JsonError("nested too deeply") from None
    except UnicodeDecodeError as exc:
        raise JsonError(f"not UTF-8 ({exc.reason} at byte {exc.start})") from None
    except ValueError as exc:
        raise JsonError(str(exc)) from None
