"""What the station's own content checks found, in the operators' words.

Pure functions over `Verification.checks` (the summaries `station verify --json` prints),
shared by `station verify` / `station import` and the kiosk's verdict screen, so both say
the same. Each line comes with its kind, which the kiosk uses as its style: `problem` (it
refuses, or must be read), `warning`, `check-ok`, `check-title`, `explain`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from station.bundle.reports import SEVERITIES
from station.text import plural

SEVERITY_ORDER = tuple(reversed(SEVERITIES))  # worst first
SHOWN_WORST = 3

Line = tuple[str, str]


def counts_words(counts: Mapping[str, int]) -> str:
    """`1 critical, 3 high`, or `no known vulnerabilities`."""
    shown = [f"{counts[s]} {s.lower()}" for s in SEVERITY_ORDER if counts.get(s)]
    return ", ".join(shown) if shown else "no known vulnerabilities"


def _worst_class(counts: Mapping[str, int]) -> str:
    if counts.get("CRITICAL") or counts.get("HIGH"):
        return "problem"
    return "warning" if any(counts.values()) else "check-ok"


def vulnerability_lines(found: Mapping[str, Any]) -> list[Line]:
    """The station's scan of each image, its worst findings and the carried reports' view."""
    if "skipped" in found:
        return []  # its warning (vulndb-missing) says so among the warnings
    if "error" in found:
        return [(f"✘ Vulnerability scan could not run: {found['error']}", "problem")]
    db = found.get("db") or {}
    newest = str(db.get("newest") or "")[:10]
    lines: list[Line] = [
        (f"Vulnerability scan by the station (database of {newest or 'unknown date'}):",
         "check-title"),
    ]
    for image in found.get("images", []):
        counts = image.get("counts", {})
        name = image.get("reference") or str(image.get("config_digest", ""))[:19]
        packages = plural(int(image.get("packages") or 0), "package")
        lines.append((f"  {name} ({packages}): {counts_words(counts)}", _worst_class(counts)))
        for vuln in image.get("worst", [])[:SHOWN_WORST]:
            fixed = f", fixed in {vuln['fixed']}" if vuln.get("fixed") else ", no fix yet"
            lines.append((f"    {vuln['severity'].lower()} {vuln['id']}: {vuln['package']} "
                          f"{vuln['installed']}{fixed}", "explain"))
        for report in image.get("carried", []):
            agrees = report.get("counts", {}) == counts
            verdict = "agrees" if agrees else "DISAGREES with the station's scan"
            lines.append((f"    the carried {report['tool']} report says "
                          f"{counts_words(report.get('counts', {}))}: {verdict}",
                          "explain" if agrees else "warning"))
        if image.get("problems"):
            lines.append((f"    ! {plural(int(image['problems']), 'part')} of the image could "
                          "not be read for packages", "warning"))
    return lines


def malware_lines(found: Mapping[str, Any]) -> list[Line]:
    """One sentence for the malware scan, then each file where something was found."""
    matches = list(found.get("found", []))
    unscanned = int(found.get("not_scanned") or 0)
    scanned = plural(int(found.get("scanned") or 0), "file")
    lines: list[Line] = []
    if matches:
        lines.append((f"✘ MALWARE FOUND by ClamAV in {plural(len(matches), 'file')} "
                      f"({scanned} scanned)", "problem"))
        for match in matches[:SHOWN_WORST]:
            where = match.get("path") or "?"
            if match.get("member"):
                layer = str(match.get("layer") or "")[:19]
                where = f"{match['member']} in {match.get('image') or where} (layer {layer}…)"
            lines.append((f"    {where}: {match.get('signature')}", "problem"))
    else:
        lines.append((f"✔ Malware scan by ClamAV: {scanned} scanned, nothing found", "check-ok"))
    if unscanned:
        lines.append((f"! {plural(unscanned, 'file')} could not be scanned for malware",
                      "warning"))
    return lines


def check_lines(checks: Mapping[str, Mapping[str, Any]]) -> list[Line]:
    """Every content check that ran, malware first (it refuses outright)."""
    lines: list[Line] = []
    if "malware" in checks:
        lines += malware_lines(checks["malware"])
    if "vulnerabilities" in checks:
        lines += vulnerability_lines(checks["vulnerabilities"])
    return lines
