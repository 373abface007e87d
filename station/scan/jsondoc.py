"""Strict JSON for documents found in images and OSV exports.

No duplicate keys (two readers could pick different values), no NaN or Infinity, and deep
nesting refused instead of a RecursionError. When `station.bundle.strict_json` lands on main
(issues 9/12), this module should become a thin call to it.
"""

from __future__ import annotations

import json
from typing import Any


class JsonError(ValueError):
    """The bytes are not one strict JSON document."""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise JsonError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _no_constant(name: str) -> Any:
    raise JsonError(f"{name} is not valid JSON")


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
    except JsonError:
        raise
    except ValueError as exc:
        raise JsonError(str(exc)) from None
