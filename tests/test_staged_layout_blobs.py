"""Blobs of an OCI layout folder are named by the digest of the one read that stages them.

A layout file is one whole blob, so verification names it by the hash its read computes
anyway (not a second hash over the same bytes). What must stay true: every staged blob
hashes to its name, and a blob whose content is not its name is refused, even when the
signed checksums match the swapped content.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from tests.importing_builders import APP, DB, oci_layout, verify_media


def test_every_staged_blob_hashes_to_its_name(tmp_path: Path) -> None:
    media = tmp_path / "media"
    oci_layout(media / "layout", {APP: 3000, DB: 70_000})

    verification = verify_media(media)

    assert verification.accepted, verification.problems
    assert verification.staged is not None
    blobs = sorted((verification.staged.layout / "blobs" / "sha256").iterdir())
    assert len(blobs) >= 6  # two images: manifest, config and layer each
    for blob in blobs:
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name


def test_a_layout_blob_whose_content_is_not_its_name_is_refused(tmp_path: Path) -> None:
    media = tmp_path / "media"
    oci_layout(media / "layout", {APP: 3000})
    blobs = sorted((media / "layout" / "blobs" / "sha256").iterdir(),
                   key=lambda path: path.stat().st_size)
    biggest = blobs[-1]  # swapped, and the checksums are signed over the swapped bytes
    biggest.write_bytes(b"swapped " + biggest.read_bytes()[8:])

    verification = verify_media(media)

    assert not verification.accepted
    messages = " ".join(problem.message for problem in verification.problems)
    assert biggest.name[:12] in messages and "does not match its digest" in messages
