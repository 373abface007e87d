"""Verification end to end: genuine bundles pass; every attack is rejected with its reason."""

from __future__ import annotations

import itertools
import os
import threading
from pathlib import Path

import pytest

from station.bundle import ItemKind, open_bundle
from station.config import Limits
from station.errors import BundleError, Cancelled
from station.progress import Progress
from station.publish.bundle import create_bundle
from station.publish.imagebuild import build_oci_layout, write_oci_archive
from station.verify import verify_bundle
from station.verify.policy import Policy
from station.verify.trust import TrustStore
from tests.builders import Signer, make_signer, make_sums_bundle, sign_file, write_signed_sums

FILES = {"a.txt": b"alpha\n", "docs/b.bin": bytes(range(256)) * 100}


def _verify(root: Path, trust: Path, **kwargs: object):  # type: ignore[no-untyped-def]
    bundle = open_bundle(root)
    policy = kwargs.pop("policy", Policy())
    return verify_bundle(bundle, TrustStore.load(trust), policy, **kwargs)  # type: ignore[arg-type]


def _codes(verification) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(p.code for p in verification.problems)


def test_genuine_sums_bundle_is_accepted(tmp_path: Path, signer: Signer) -> None:
    root = make_sums_bundle(tmp_path / "media", FILES, signer)
    result = _verify(root, signer.trust)
    assert result.verdict == "accepted", result.problems
    assert result.signers == ("alice",)
    assert all(item.ok for item in result.items)
    assert result.bundle_digest == open_bundle(root).digest
    assert result.bundle_digest.startswith("sha256:")


def test_unsigned_bundle_is_rejected(tmp_path: Path, signer: Signer) -> None:
    root = make_sums_bundle(tmp_path / "media", FILES, signer=None)
    result = _verify(root, signer.trust)
    assert result.verdict == "rejected"
    assert _codes(result) == ["unsigned"]
    assert "SHA256SUMS is not signed" in result.problems[0].message


def test_manifest_edited_after_signing_is_a_bad_signature(tmp_path: Path, signer: Signer) -> None:
    root = make_sums_bundle(tmp_path / "media", FILES, signer)
    sums = root / "SHA256SUMS"
    sums.write_text(sums.read_text().replace("a.txt", "a.TXT"))
    (root / "a.TXT").write_bytes(FILES["a.txt"])
    result = _verify(root, signer.trust)
    assert "bad-signature" in _codes(result)
    assert any("SHA256SUMS.minisig" in (p.path or "") for p in result.problems)


def test_signature_by_untrusted_key_is_rejected(tmp_path: Path, signer: Signer) -> None:
    mallory = make_signer(tmp_path, "mallory")
    root = make_sums_bundle(tmp_path / "media", FILES, mallory)
    result = _verify(root, signer.trust)
    assert _codes(result) == ["untrusted-signature"]
    assert "not in the trust store" in result.problems[0].message


def test_changed_file_is_a_checksum_mismatch_naming_it(tmp_path: Path, signer: Signer) -> None:
    root = make_sums_bundle(tmp_path / "media", FILES, signer)
    (root / "docs/b.bin").write_bytes(b"X" + FILES["docs/b.bin"][1:])
    result = _verify(root, signer.trust)
    assert _codes(result) == ["checksum-mismatch"]
    assert result.problems[0].path == "docs/b.bin"
    assert [i.ok for i in result.items] == [True, False]


def test_listed_file_missing(tmp_path: Path, signer: Signer) -> None:
    root = make_sums_bundle(tmp_path / "media", FILES, signer)
    (root / "a.txt").unlink()
    result = _verify(root, signer.trust)
    assert _codes(result) == ["missing"]
    assert "a.txt is listed but missing" in result.problems[0].message


@pytest.mark.parametrize(
    ("line_name", "expected"),
    [
        ("/etc/passwd", "absolute"),
        ("../../etc/passwd", "parent directory"),
        ("bell\x07name", "control character"),
        ("invoice\u202etxt.exe", "bidirectional"),
    ],
)
def test_unsafe_names_in_a_signed_list_are_rejected(
    tmp_path: Path, signer: Signer, line_name: str, expected: str
) -> None:
    root = make_sums_bundle(tmp_path / "media", FILES, signer)
    text = (root / "SHA256SUMS").read_text() + f"{'0' * 64}  {line_name}\n"
    write_signed_sums(root, text, signer)
    result = _verify(root, signer.trust)
    assert _codes(result) == ["unsafe-path"]
    assert expected in result.problems[0].message


def test_listed_symlink_is_rejected_and_not_followed(tmp_path: Path, signer: Signer) -> None:
    secret = tmp_path / "station-secret"
    secret.write_bytes(b"do not read")
    root = make_sums_bundle(tmp_path / "media", {**FILES, "link": b"do not read"}, signer)
    (root / "link").unlink()
    (root / "link").symlink_to(secret)
    result = _verify(root, signer.trust)
    assert _codes(result) == ["unsafe-path"]
    assert "link is a symbolic link" in result.problems[0].message


def test_listed_device_is_rejected(tmp_path: Path, signer: Signer) -> None:
    root = make_sums_bundle(tmp_path / "media", {**FILES, "dev": b""}, signer)
    (root / "dev").unlink()
    os.mkfifo(root / "dev")
    result = _verify(root, signer.trust)
    assert _codes(result) == ["unsafe-path"]
    assert "FIFO" in result.problems[0].message


def test_file_over_the_size_limit_is_rejected_unread(tmp_path: Path, signer: Signer) -> None:
    root = make_sums_bundle(tmp_path / "media", FILES, signer)
    result = _verify(root, signer.trust, limits=Limits(max_file_bytes=1000))
    assert _codes(result) == ["too-large"]
    assert result.problems[0].path == "docs/b.bin"


def test_unlisted_files_are_warnings_only(tmp_path: Path, signer: Signer) -> None:
    root = make_sums_bundle(tmp_path / "media", FILES, signer)
    (root / "extra.sh").write_text("#!/bin/sh\n")
    result = _verify(root, signer.trust)
    assert result.verdict == "accepted"
    assert [(w.code, w.path) for w in result.warnings] == [("unlisted", "extra.sh")]


def test_no_manifest_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(BundleError, match=r"no bundle\.json or SHA256SUMS"):
        open_bundle(tmp_path)


def _native_bundle(tmp_path: Path, signer: Signer) -> Path:
    layout = tmp_path / "layout"
    build_oci_layout(layout, "registry.example.org/ops/app:1.0", {"app/hello": b"hi\n"})
    archive = tmp_path / "app.oci.tar"
    write_oci_archive(layout, archive)
    sbom = tmp_path / "app.cdx.json"
    sbom.write_text('{"bomFormat": "CycloneDX", "specVersion": "1.5", "components": []}')
    notes = tmp_path / "notes.txt"
    notes.write_text("release notes\n")
    out = tmp_path / "bundle"
    create_bundle(
        out, secret_key=signer.secret, files=[sbom, notes], image_archives=[archive],
        name="app", channel="ops/stable", sequence=4,
    )
    return out


def test_created_bundle_is_accepted_with_images_and_kinds(tmp_path: Path, signer: Signer) -> None:
    root = _native_bundle(tmp_path, signer)
    bundle = open_bundle(root)
    kinds = {item.path: item.kind for item in bundle.items}
    assert kinds == {
        "images/app.oci.tar": ItemKind.IMAGE_ARCHIVE,
        "sbom/app.cdx.json": ItemKind.SBOM,
        "files/notes.txt": ItemKind.FILE,
    }
    (image,) = bundle.images
    assert image.references == ("registry.example.org/ops/app:1.0",)
    assert image.platform == "linux/amd64"
    assert bundle.info is not None and bundle.info.sequence == 4
    assert _verify(root, signer.trust).verdict == "accepted"


def test_native_size_mismatch_is_reported_without_hashing(tmp_path: Path, signer: Signer) -> None:
    root = _native_bundle(tmp_path, signer)
    with (root / "files/notes.txt").open("ab") as handle:
        handle.write(b"appended")
    result = _verify(root, signer.trust)
    assert _codes(result) == ["size-mismatch"]
    assert "the manifest says 14" in result.problems[0].message


def test_accepted_bundle_is_staged_and_images_read_from_staging(
    tmp_path: Path, signer: Signer
) -> None:
    root = _native_bundle(tmp_path, signer)
    staging = tmp_path / "staging"
    result = _verify(root, signer.trust, staging_root=staging)
    assert result.staged is not None
    staged_root = result.staged.root
    assert staged_root is not None and staged_root.parent == staging
    bundle = open_bundle(root)
    for item in bundle.items:
        if item.kind is not ItemKind.IMAGE_ARCHIVE:
            (entry,) = item.entries
            staged = staged_root / "files" / entry.path
            assert staged.read_bytes() == (root / entry.path).read_bytes()
    (image,) = result.staged.images
    assert image.references == ("registry.example.org/ops/app:1.0",)
    assert image.descriptor.digest == bundle.images[0].manifest_digest
    for digest in image.blobs:  # every blob the image needs is staged under its digest
        assert result.staged.blob_path(digest).is_file()
    assert "app.oci.tar" not in {p.name for p in staged_root.rglob("*")}


def test_rejected_bundle_leaves_nothing_staged(tmp_path: Path, signer: Signer) -> None:
    root = _native_bundle(tmp_path, signer)
    (root / "files/notes.txt").write_text("release notEs\n")
    staging = tmp_path / "staging"
    result = _verify(root, signer.trust, staging_root=staging)
    assert result.verdict == "rejected" and result.staged is None
    assert list(staging.iterdir()) == []


def test_progress_reaches_the_total_and_cancel_stops_with_nothing_staged(
    tmp_path: Path, signer: Signer
) -> None:
    big = {"big.bin": os.urandom(8 * 1024 * 1024), "small": b"s"}
    root = make_sums_bundle(tmp_path / "media", big, signer)
    reports: list[Progress] = []
    _verify(root, signer.trust, on_progress=reports.append)
    assert reports[-1].done == reports[-1].total == 8 * 1024 * 1024 + 1
    assert all(a.done <= b.done for a, b in itertools.pairwise(reports))

    cancel = threading.Event()
    staging = tmp_path / "staging"

    def stop_soon(progress: Progress) -> None:
        cancel.set()

    with pytest.raises(Cancelled):
        _verify(root, signer.trust, staging_root=staging, on_progress=stop_soon, cancel=cancel)
    assert list(staging.iterdir()) == []


def test_second_valid_signature_by_unknown_key_is_a_warning(tmp_path: Path, signer: Signer) -> None:
    root = make_sums_bundle(tmp_path / "media", FILES, signer)
    other = make_signer(tmp_path, "bob")
    sums = root / "SHA256SUMS"
    sign_file(other, sums)  # overwrites .minisig: move it aside as a second signature
    (root / "SHA256SUMS.minisig").rename(root / "SHA256SUMS.bob.minisig")
    sign_file(signer, sums)
    result = _verify(root, signer.trust)
    assert result.verdict == "accepted"
    assert [w.code for w in result.warnings] == ["untrusted-signature"]
