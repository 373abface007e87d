"""Properties of the whole read of a media folder: `open_bundle`, then `verify_bundle`.

Generated media hold plain files, image archives, crafted tars and JSON, listed in a signed
SHA256SUMS; then the media may be changed the ways a stick is tampered with.

- opening and verifying raise only the station's own errors, whatever the media hold;
- a genuine bundle is accepted, staged, and lists the images its archives hold;
- a bundle whose listed bytes changed after signing is rejected, never accepted.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from station.bundle import open_bundle
from station.errors import StationError
from station.verify import verify_bundle
from station.verify.policy import Policy
from station.verify.trust import TrustStore
from tests import tar_headers as th
from tests.builders import Signer, make_signer, sign_file
from tests.strategies import (
    ImageArchive,
    examples,
    image_archives,
    member_names,
    mutate,
    mutations,
    tar_entries,
    tarfile_bytes,
)

SETTINGS = settings(max_examples=examples(40), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def signer() -> Iterator[Signer]:
    base = Path(tempfile.mkdtemp(prefix="station-prop-"))
    try:
        yield make_signer(base, "alice")
    finally:
        shutil.rmtree(base, ignore_errors=True)


@dataclass(frozen=True)
class Media:
    files: dict[str, bytes]
    archive: ImageArchive | None  # the one image archive, at `image.tar`


def _plain_contents() -> st.SearchStrategy[bytes]:
    crafted_tar = st.builds(lambda entries, changes: mutate(
        tarfile_bytes(entries, 1), changes), tar_entries(max_files=2),
        st.lists(mutations, max_size=2))
    return st.one_of(
        st.binary(max_size=600),
        st.builds(lambda entries: tarfile_bytes(entries, 1), tar_entries(max_files=2)),
        crafted_tar,
        st.sampled_from([json.dumps({"bomFormat": "CycloneDX", "components": []}).encode(),
                         b'{"manifests": [], "Manifests": []}', b"{" * 70,
                         th.archive(th.member("manifest.json", b"[]"))]),
    )


@st.composite
def media(draw: st.DrawFn) -> Media:
    names = draw(st.lists(member_names, min_size=1, max_size=4, unique_by=str.casefold))
    folders = {"/".join(n.split("/")[:i]) for n in names for i in range(1, n.count("/") + 1)}
    names = [n for n in names if n not in folders and n.casefold() != "image.tar"
             and not n.startswith("SHA256SUMS") and n.split("/")[0] != "image.tar"]
    files = {name: draw(_plain_contents()) for name in names}
    archive = draw(st.none() | image_archives())
    if archive is not None:
        files["image.tar"] = archive.data
    return Media(files, archive)


_TAMPERING = st.sampled_from(["none", "flip", "truncate", "unlisted", "symlink", "remove",
                              "grow"])


def _write(root: Path, media: Media, signer: Signer) -> None:
    lines = []
    for name, data in media.files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        lines.append(f"{hashlib.sha256(data).hexdigest()}  {name}\n")
    (root / "SHA256SUMS").write_text("".join(lines))
    sign_file(signer, root / "SHA256SUMS")


def _tamper(root: Path, media: Media, how: str, where: int) -> bool:
    """Change the media after signing; True when a listed file's bytes changed."""
    names = sorted(media.files)
    name = names[where % len(names)]
    path = root / name
    data = media.files[name]
    if how == "flip" and data:
        path.write_bytes(data[:where % len(data)] + bytes([data[where % len(data)] ^ 1])
                         + data[where % len(data) + 1:])
        return True
    if how == "truncate" and data:
        path.write_bytes(data[: where % len(data)])
        return True
    if how == "grow":
        path.write_bytes(data + b"\x00")
        return True
    if how == "remove":
        path.unlink()
        return True
    if how == "symlink":
        path.unlink()
        os.symlink("/etc/passwd", path)
        return True
    if how == "unlisted":
        (root / "zz-unlisted.tar").write_bytes(th.archive(th.member("index.json", b"{}")))
    return False


@SETTINGS
@given(media=media(), how=_TAMPERING, where=st.integers(0, 1 << 20))
def test_any_media_give_a_verdict_never_another_error(signer: Signer, media: Media, how: str,
                                                      where: int) -> None:
    base = Path(tempfile.mkdtemp(prefix="station-media-"))
    try:
        root = base / "media"
        root.mkdir()
        _write(root, media, signer)
        changed = _tamper(root, media, how, where)
        try:
            bundle = open_bundle(root)
            result = verify_bundle(bundle, TrustStore.load(signer.trust), Policy(),
                                   staging_root=base / "staging")
        except StationError:
            assert how != "none", "a genuine bundle could not be read"
            return
        event(f"{how}: {result.verdict}, {sorted({p.code for p in result.problems})}")
        if changed:
            assert result.verdict == "rejected", "changed bytes were accepted"
        if how in ("none", "unlisted") and result.accepted and media.archive is not None:
            assert {image.config_digest for image in result.images} == set(
                media.archive.config_digests)
            assert result.staged is not None and (result.staged.layout / "index.json").exists()
        if how == "none" and media.archive is not None and not any(
            p.path != "image.tar" for p in result.problems
        ):
            assert result.accepted, result.problems
    finally:
        shutil.rmtree(base, ignore_errors=True)
