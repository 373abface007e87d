"""One severity word per OSV record, on the scale the policy already uses (reports.SEVERITIES).

OSV carries severity as CVSS vectors (`severity[]` of the record or of one `affected` entry)
and, for GitHub's and other databases, as a word in `database_specific.severity`. Vectors are
scored with the `cvss` library (v2 by base score, v3 and v4 by their qualitative rating); the
highest rating found wins. Without a readable vector, the database's word is used (`MODERATE`
is MEDIUM, `IMPORTANT` is HIGH); without either, the record is UNKNOWN.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import cvss

from station.bundle.reports import normalise_severity, severity_rank

_WORDS = {"MODERATE": "MEDIUM", "IMPORTANT": "HIGH"}


def from_word(word: str) -> str:
    """A database's word (`MODERATE`, `High`...) on the station's scale."""
    upper = word.strip().upper()
    return normalise_severity(_WORDS.get(upper, upper))


def _v2_rating(score: float) -> str:
    # CVSS v2 has no qualitative scale of its own; NVD's bands are the convention.
    if score >= 7.0:
        return "HIGH"
    return "MEDIUM" if score >= 4.0 else "LOW"


def from_vector(kind: str, vector: str) -> str | None:
    """The rating of one CVSS vector, or None when it cannot be read."""
    try:
        if kind == "CVSS_V3":
            return from_word(str(cvss.CVSS3(vector).severities()[0]))
        if kind == "CVSS_V4":
            return from_word(str(cvss.CVSS4(vector).severity))
        if kind == "CVSS_V2":
            return _v2_rating(float(cvss.CVSS2(vector).scores()[0]))
    except (cvss.CVSSError, ValueError, KeyError, IndexError, TypeError, ArithmeticError):
        return None
    return None


def _vectors(entries: Any) -> Iterable[str]:
    if not isinstance(entries, list):
        return
    for entry in entries:
        if isinstance(entry, dict):
            kind, score = entry.get("type"), entry.get("score")
            if isinstance(kind, str) and isinstance(score, str):
                rating = from_vector(kind, score)
                if rating is not None:
                    yield rating


def _word(section: Any) -> str | None:
    if isinstance(section, Mapping):
        value = section.get("severity")
        if isinstance(value, str) and value.strip():
            return from_word(value)
    return None


def highest(ratings: Iterable[str]) -> str:
    return max(ratings, key=severity_rank, default="UNKNOWN")


def severity_of(record: Mapping[str, Any], affected: Mapping[str, Any] | None = None) -> str:
    """The severity of a record, or of one of its `affected` entries when that says more."""
    sources: list[Any] = [record]
    if affected is not None:
        sources.insert(0, affected)
    ratings = [r for source in sources for r in _vectors(source.get("severity"))]
    if ratings:
        return highest(ratings)
    for source in sources:
        for section in ("database_specific", "ecosystem_specific"):
            word = _word(source.get(section))
            if word is not None:
                return word
    return "UNKNOWN"
