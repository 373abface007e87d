"""Zarf packages as vendors ship them: read in place (also split), their own integrity
checked (checksums.txt, aggregateChecksum, per-blob digests), their cosign zarf.yaml.sig
accepted as the bundle's signature, and every tampering refused with its reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from station.bundle import BundleFormat, ItemKind, open_bundle
from station.errors import BundleError
from station.importing.store import StoreTarget
from station.verify import verify_bundle
from station.verify.policy import Policy
from station.verify.trust import TrustStore
from tests.signing_builders import cosign_key
from tests.zarf_builders import IMAGE, archive, build_package, finish, package_tree, split


@pytest.fixture
def vendor(tmp_path: Path):  # type: ignore[no-untyped-def]
    trust = tmp_path / "trust"
    return cosign_key(trust, "acme"), trust


def _verify(media: Path, trust: Path, staging: Path | None = None):  # type: ignore[no-untyped-def]
    return verify_bundle(open_bundle(media), TrustStore.load(trust), Policy(),
                         staging_root=staging)


def test_genuine_package_is_listed_verified_by_its_vendor_key_and_imported(
    tmp_path: Path, vendor
) -> None:  # type: ignore[no-untyped-def]
    key, trust = vendor
    media = tmp_path / "media"
    build_package(media, tmp_path, key)

    bundle = open_bundle(media)
    assert bundle.format is BundleFormat.ZARF
    assert bundle.info is not None and bundle.info.name == "acme-web"
    assert not bundle.problems, bundle.problems
    assert [s.name for s in bundle.signatures] == ["zarf.yaml.sig"]
    kinds = {item.path: item.kind for item in bundle.items}
    assert kinds == {"images": ItemKind.OCI_LAYOUT, "components/web.tar": ItemKind.FILE,
                     "sboms.tar": ItemKind.FILE}
    (image,) = bundle.images
    assert image.references == (IMAGE,)
    web = next(item for item in bundle.items if item.path == "components/web.tar")
    assert "charts podinfo@6.4.0" in web.description and "/etc/motd" in web.description

    staging = tmp_path / "staging"
    staging.mkdir()
    result = _verify(media, trust, staging)
    assert result.verdict == "accepted", result.problems
    assert result.signers == ("acme",)
    assert result.staged is not None
    store = tmp_path / "store"
    target = StoreTarget(store, tmp_path / "home")
    receipt = target.run(target.plan(result.staged))
    index = json.loads((store / "index.json").read_text())
    assert [m["annotations"]["org.opencontainers.image.ref.name"]
            for m in index["manifests"]] == [IMAGE]
    delivered = {Path(f.where).name for f in receipt.files}
    assert delivered == {"web.tar", "sboms.tar"}


def test_split_package_is_read_in_place(tmp_path: Path, vendor) -> None:  # type: ignore[no-untyped-def]
    key, trust = vendor
    media = tmp_path / "media"
    parts = split(build_package(media, tmp_path, key), 700)
    assert len(parts) >= 3
    result = _verify(media, trust)
    assert result.verdict == "accepted", result.problems
    assert [image.references for image in result.images] == [(IMAGE,)]


def test_split_package_missing_or_reordered_part_is_refused(
    tmp_path: Path, vendor
) -> None:  # type: ignore[no-untyped-def]
    key, _ = vendor
    media = tmp_path / "media"
    parts = split(build_package(media, tmp_path, key), 700)
    first, second = parts[0].read_bytes(), parts[1].read_bytes()
    parts[0].write_bytes(second[:len(first)].ljust(len(first), b"\0"))
    parts[1].write_bytes(first + second[len(first):])  # same total size, other order
    with pytest.raises(BundleError, match=r"do not hash to what \.part000 says"):
        open_bundle(media)

    parts[-1].unlink()
    with pytest.raises(BundleError, match="missing"):
        open_bundle(media)


def test_file_that_disagrees_with_checksums_is_refused(tmp_path: Path, vendor) -> None:  # type: ignore[no-untyped-def]
    key, trust = vendor
    folder = package_tree(tmp_path / "build")
    finish(folder, key)
    (folder / "components" / "web.tar").write_bytes(b"swapped after signing" * 100)
    archive(folder, tmp_path / "media" / "zarf-package.tar.zst")
    result = _verify(tmp_path / "media", trust)
    assert result.verdict == "rejected"
    assert [p.code for p in result.problems] == ["checksum-mismatch"]
    assert "components/web.tar does not match checksums.txt" in result.problems[0].message


def test_checksums_rewritten_to_match_are_caught_by_the_aggregate(
    tmp_path: Path, vendor
) -> None:  # type: ignore[no-untyped-def]
    key, trust = vendor
    folder = package_tree(tmp_path / "build")
    finish(folder, key)
    signed = (folder / "zarf.yaml").read_bytes(), (folder / "zarf.yaml.sig").read_bytes()
    (folder / "sboms.tar").write_bytes(b"another sbom")
    finish(folder, key)  # checksums.txt now agrees with the new file...
    (folder / "zarf.yaml").write_bytes(signed[0])  # ...but the signed zarf.yaml does not
    (folder / "zarf.yaml.sig").write_bytes(signed[1])
    archive(folder, tmp_path / "media" / "zarf-package.tar.zst")
    bundle = open_bundle(tmp_path / "media")
    assert "aggregateChecksum" in bundle.problems[0].message
    result = _verify(tmp_path / "media", trust)
    assert result.verdict == "rejected"
    assert "checksum-mismatch" in {p.code for p in result.problems}


def test_signature_over_another_zarf_yaml_is_refused(tmp_path: Path, vendor) -> None:  # type: ignore[no-untyped-def]
    key, trust = vendor
    other = package_tree(tmp_path / "other", images=("ghcr.io/acme/other:9",))
    finish(other, key)
    folder = package_tree(tmp_path / "build")
    finish(folder, None)
    (folder / "zarf.yaml.sig").write_bytes((other / "zarf.yaml.sig").read_bytes())
    archive(folder, tmp_path / "media" / "zarf-package.tar.zst")
    result = _verify(tmp_path / "media", trust)
    assert result.verdict == "rejected"
    assert {p.code for p in result.problems} == {"untrusted-signature"}
    assert "no trusted cosign key verifies it" in result.problems[0].message


def test_unsigned_package_and_unpinned_blob_are_refused(tmp_path: Path, vendor) -> None:  # type: ignore[no-untyped-def]
    _, trust = vendor
    folder = package_tree(tmp_path / "build")
    finish(folder, None)
    (folder / "images" / "blobs" / "sha256" / ("0" * 64)).write_bytes(b"smuggled")
    archive(folder, tmp_path / "media" / "zarf-package.tar.zst")
    result = _verify(tmp_path / "media", trust)
    codes = {p.code for p in result.problems}
    assert {"unsigned", "unlisted-in-image"} <= codes


def test_image_signatures_zarf_carries_are_checked_and_satisfy_the_policy(
    tmp_path: Path, vendor
) -> None:  # type: ignore[no-untyped-def]
    from station.config import StationConfig

    key, trust = vendor
    folder = package_tree(tmp_path / "build", image_signer=key)
    index = json.loads((folder / "images" / "index.json").read_text())
    names = [m["annotations"]["org.opencontainers.image.base.name"]
             for m in index["manifests"]]
    assert names[1].endswith(".sig")  # zarf lists the signature image too
    finish(folder, key, images=tuple(names))
    archive(folder, tmp_path / "media" / "zarf-package.tar.zst")
    home = tmp_path / "home"
    home.mkdir()
    (home / "station.toml").write_text(
        '[policy.images."ghcr.io/acme/"]\nrequire_signature = ["acme"]\n')

    result = verify_bundle(open_bundle(tmp_path / "media"), TrustStore.load(trust),
                           Policy.from_config(StationConfig.load(home)))

    assert result.verdict == "accepted", result.problems
    (check,) = result.image_signatures
    assert check.valid and check.signer == "acme"
