"""SHA256SUMS manifests, as written by `sha256sum` (text and `*binary` forms).

This is what people carry today. The file lists digests but not sizes; the size cap then
applies to the size found on the media, before reading.
"""

from __future__ import annotations

import re
import unicodedata

from station.bundle.model import Entry, Finding
from station.bundle.safety import check_relative_path, describe_name
from station.errors import BundleError, UnsafePathError

MANIFEST_NAME = "SHA256SUMS"

_LINE = re.compile(r"^(?P<escaped>\\?)(?P<digest>[0-9a-fA-F]{64}) (?P<mode>[ *])(?P<name>.+)$")


def _unescape(name: str) -> str:
    """Undo sha256sum's escaping of backslash, newline and (coreutils 9) carriage return in
    names (lines starting with `\\`)."""
    out: list[str] = []
    chars = iter(name)
    for ch in chars:
        if ch != "\\":
            out.append(ch)
            continue
        nxt = next(chars, "")
        if nxt == "\\":
            out.append("\\")
        elif nxt == "n":
            out.append("\n")
        elif nxt == "r":
            out.append("\r")
        else:
            raise ValueError("bad escape")
    return "".join(out)


def parse_sums(data: bytes) -> tuple[list[Entry], list[Finding]]:
    """Entries listed by a SHA256SUMS file, and problems with individual lines.

    A file that is not a SHA256SUMS at all (not UTF-8, no valid line) raises BundleError.
    An unsafe or duplicate name is a problem: the bundle will be rejected, and every such
    line is reported, not only the first.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BundleError(
            f"{MANIFEST_NAME} is not UTF-8 text (byte {exc.start})",
            hint="regenerate it with `sha256sum FILE... > SHA256SUMS`",
        ) from exc
    entries: list[Entry] = []
    problems: list[Finding] = []
    seen: set[str] = set()
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.removesuffix("\r")
        if not line.strip():
            continue
        match = _LINE.match(line)
        if match is None:
            raise BundleError(
                f"{MANIFEST_NAME} line {number} is not in the sha256sum format: "
                f"{describe_name(line[:80])!r}",
                hint="each line must be '<64 hex digits>  <file name>'",
            )
        name = match["name"]
        if match["escaped"]:
            try:
                name = _unescape(name)
            except ValueError:
                problems.append(
                    Finding("malformed", f"{MANIFEST_NAME} line {number}: bad escape in name")
                )
                continue
        try:
            check_relative_path(name)
        except UnsafePathError as exc:
            problems.append(Finding("unsafe-path", f"unsafe path: {exc.message}", name))
            continue
        key = unicodedata.normalize("NFC", name)
        if key in seen:
            problems.append(Finding(
                "duplicate",
                f"{describe_name(name)} is listed more than once (or as another name that is "
                "the same text in another Unicode form)",
                name,
            ))
            continue
        seen.add(key)
        entries.append(Entry(path=name, sha256=match["digest"].lower()))
    if not entries and not problems:
        raise BundleError(f"{MANIFEST_NAME} lists no files")
    return entries, problems
