"""SBOM and scan-report summaries read from the media: what operators see before verifying."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from station.bundle.model import Entry, Item, ItemKind
from station.bundle.reports import SbomSummary
from station.bundle.summaries import (
    Unreadable,
    summarise_items,
    summary_lines,
    summary_to_json,
)
from station.config import Limits
from tests.report_samples import CYCLONEDX, GRYPE, IMAGE, SPDX, TRIVY, dump


def _item(root: Path, path: str, data: bytes | None, kind: ItemKind) -> Item:
    """An item as the bundle readers make it; `data` None leaves the file to the test."""
    if data is not None:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
    digest = hashlib.sha256(data or b"").hexdigest()
    return Item(path, kind, (Entry(path, digest, None if data is None else len(data)),))


def _one(root: Path, item: Item, limits: Limits | None = None) -> object:
    summaries = summarise_items(root, [item], limits or Limits())
    assert list(summaries) == [item.path]
    return summaries[item.path]


def test_trivy_report_counts_every_severity(tmp_path: Path) -> None:
    summary = _one(tmp_path, _item(tmp_path, "reports/trivy.json", dump(TRIVY),
                                   ItemKind.SCAN_REPORT))
    assert summary_lines(summary) == [  # type: ignore[arg-type]
        f"Trivy report on {IMAGE} (from the media, not yet verified)",
        "7 vulnerabilities: CRITICAL 1, HIGH 2, MEDIUM 2, LOW 1, UNKNOWN 1",
        "worst: CVE-2024-24790 (CRITICAL, stdlib 1.21.5)",
        "worst: CVE-2023-6129 (HIGH, libcrypto3 3.1.4-r2)",
        "worst: CVE-2023-45288 (HIGH, golang.org/x/net 0.17.0)",
    ]
    assert summary_to_json(summary) == {  # type: ignore[arg-type]
        "type": "scan-report", "verified": False, "tool": "Trivy", "artifact": IMAGE,
        "vulnerabilities": 7,
        "counts": {"CRITICAL": 1, "HIGH": 2, "MEDIUM": 2, "LOW": 1, "UNKNOWN": 1},
    }


def test_grype_report_maps_its_severity_words(tmp_path: Path) -> None:
    summary = _one(tmp_path, _item(tmp_path, "grype.json", dump(GRYPE), ItemKind.SCAN_REPORT))
    lines = summary_lines(summary)  # type: ignore[arg-type]
    assert lines[0] == f"Grype report on {IMAGE} (from the media, not yet verified)"
    assert lines[1] == "3 vulnerabilities: CRITICAL 1, HIGH 0, MEDIUM 1, LOW 0, UNKNOWN 1"


def test_cyclonedx_and_spdx_sboms_count_packages(tmp_path: Path) -> None:
    items = [
        _item(tmp_path, "sbom/alpine.cdx.json", dump(CYCLONEDX), ItemKind.SBOM),
        _item(tmp_path, "sbom/alpine.spdx.json", dump(SPDX), ItemKind.SBOM),
        _item(tmp_path, "files/notes.json", b'{"not": "a report"}', ItemKind.FILE),
    ]
    summaries = summarise_items(tmp_path, items, Limits())
    assert set(summaries) == {"sbom/alpine.cdx.json", "sbom/alpine.spdx.json"}
    assert summary_lines(summaries["sbom/alpine.cdx.json"]) == [
        f"CycloneDX 1.5 SBOM of {IMAGE} (from the media, not yet verified)",
        "14 packages: alpine-baselayout, alpine-keys, apk-tools, busybox, "
        "ca-certificates-bundle and 9 more",
    ]
    assert summary_lines(summaries["sbom/alpine.spdx.json"])[1] == (
        "3 packages: alpine-baselayout, alpine-keys, apk-tools"
    )
    doc = summary_to_json(summaries["sbom/alpine.cdx.json"])
    assert doc["type"] == "sbom" and doc["packages"] == 14 and doc["verified"] is False
    assert doc["format"] == "CycloneDX 1.5" and doc["subject"] == IMAGE
    assert doc["package_names"][:2] == ["alpine-baselayout", "alpine-keys"]


def _reason(summary: object) -> str:
    assert isinstance(summary, Unreadable), summary
    (line,) = summary_lines(summary)
    assert line.startswith("cannot read: ")
    return line


def test_a_file_over_the_manifest_cap_is_not_parsed(tmp_path: Path) -> None:
    """Unverified JSON is parsed whole only up to max_manifest_bytes, like the manifest."""
    big = b'{"bomFormat": "CycloneDX", "components": [' + b"{}," * 2000 + b"{}]}"
    item = _item(tmp_path, "sbom/big.json", big, ItemKind.SBOM)
    small = Limits(max_manifest_bytes=4096)
    assert "over the limit of 4096 bytes" in _reason(_one(tmp_path, item, small))
    assert isinstance(_one(tmp_path, item, Limits(max_manifest_bytes=len(big))), SbomSummary)


def test_a_huge_sparse_file_is_refused_before_reading(tmp_path: Path) -> None:
    item = _item(tmp_path, "sbom/huge.json", None, ItemKind.SBOM)
    (tmp_path / "sbom").mkdir()
    with (tmp_path / "sbom" / "huge.json").open("wb") as out:
        out.truncate(64 * 1024**3)  # 64 GiB of holes: reading it would take minutes
    assert "over the limit" in _reason(_one(tmp_path, item))


def test_a_symlink_is_not_followed(tmp_path: Path) -> None:
    secret = tmp_path / "outside.json"
    secret.write_bytes(dump(TRIVY))
    item = _item(tmp_path / "media", "reports/scan.json", None, ItemKind.SCAN_REPORT)
    (tmp_path / "media" / "reports").mkdir(parents=True)
    (tmp_path / "media" / "reports" / "scan.json").symlink_to(secret)
    assert "symbolic link" in _reason(_one(tmp_path / "media", item))


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"\x00\xffnot json at all", "not JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "not JSON"),
        (b'["a list, not an object"]', "not an SBOM or scan report"),
        (b'{"hello": "world"}', "not an SBOM or scan report"),
        (b'{"SchemaVersion": 2, "Results": "everything is fine"}', "Results is not a JSON list"),
        (b'{"SchemaVersion": 2, "Results": [{"Vulnerabilities": [{"Severity": "HIGH"}]}]}',
         "has no ID"),
        (b'{"descriptor": {}, "matches": [{"vulnerability": null}]}', "is not a JSON object"),
        (b'{"bomFormat": "CycloneDX", "components": {"name": "x"}}', "components is not"),
        (b'{"spdxVersion": "SPDX-2.3", "packages": 7}', "packages is not a JSON list"),
        (b'{"SchemaVersion": 2, "Results": [], "n": 1' + b"0" * 5000 + b"}", "not JSON"),
    ],
    ids=["binary", "deep", "list", "other-json", "trivy-results", "trivy-no-id", "grype-null",
         "cdx-components", "spdx-packages", "huge-int"],
)
def test_malformed_files_become_notes(tmp_path: Path, data: bytes, words: str) -> None:
    item = _item(tmp_path, "reports/scan.json", data, ItemKind.SCAN_REPORT)
    assert words in _reason(_one(tmp_path, item))


def test_missing_file_and_folder_in_its_place(tmp_path: Path) -> None:
    missing = _item(tmp_path, "reports/gone.json", None, ItemKind.SCAN_REPORT)
    folder = _item(tmp_path, "sbom/dir.json", None, ItemKind.SBOM)
    (tmp_path / "sbom" / "dir.json").mkdir(parents=True)
    summaries = summarise_items(tmp_path, [missing, folder], Limits())
    assert _reason(summaries["reports/gone.json"]) == "cannot read: reports/gone.json is missing"
    assert "is a folder" in _reason(summaries["sbom/dir.json"])
    assert summary_to_json(summaries["sbom/dir.json"])["type"] == "unreadable"


def test_a_fifo_does_not_block(tmp_path: Path) -> None:
    item = _item(tmp_path, "sbom/pipe.json", None, ItemKind.SBOM)
    (tmp_path / "sbom").mkdir()
    os.mkfifo(tmp_path / "sbom" / "pipe.json")
    assert "FIFO" in _reason(_one(tmp_path, item))


def test_names_from_the_media_cannot_drive_the_terminal(tmp_path: Path) -> None:
    doc = {**SPDX, "name": "evil\x1b]0;owned\x07",
           "packages": [{"name": "\u202eexe.txt"}, {"name": "ok"}]}
    summary = _one(tmp_path, _item(tmp_path, "s.json", json.dumps(doc).encode(), ItemKind.SBOM))
    text = "\n".join(summary_lines(summary))  # type: ignore[arg-type]
    assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
    assert "evil\\u001b]0;owned\\u0007" in text and "\\u202eexe.txt, ok" in text
