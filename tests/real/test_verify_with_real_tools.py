"""Whole bundles as people make them today, with real tools, through `station verify`.

SHA256SUMS written by coreutils `sha256sum` (text and binary forms), signed by the real
`minisign` and `gpg`; image archives written by `skopeo`; and the reverse: a bundle made by
`station bundle create` checked by `minisign -V`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from station.publish.imagebuild import build_oci_layout

pytestmark = pytest.mark.real


def _need(tool: str) -> None:
    if shutil.which(tool) is None:
        print(f"skipping: {tool} is not installed")
        pytest.skip(f"{tool} is not installed")


def _run(args: list[str | Path], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result


def station(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "station.cli.main", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def plain_media(tmp_path: Path) -> Path:
    """Files and an image archive made by skopeo, listed by the real sha256sum."""
    _need("skopeo")
    media = tmp_path / "media"
    (media / "images").mkdir(parents=True)
    layout = tmp_path / "layout"
    build_oci_layout(layout, "registry.example.org/ops/web:3.1", {"srv/index.html": b"<p>hi\n"})
    _run(
        [
            "skopeo",
            "copy",
            "--quiet",
            f"oci:{layout}:registry.example.org/ops/web:3.1",
            f"docker-archive:{media / 'images/web.tar'}:registry.example.org/ops/web:3.1",
        ]
    )
    (media / "README.txt").write_text("transfer request 4711\n")
    text = _run(["sha256sum", "README.txt"], cwd=media).stdout
    binary = _run(["sha256sum", "-b", "images/web.tar"], cwd=media).stdout
    (media / "SHA256SUMS").write_text(text + binary)
    return media


def test_minisign_signed_plain_media_is_accepted(plain_media: Path, tmp_path: Path) -> None:
    _need("minisign")
    trust = tmp_path / "trust"
    trust.mkdir()
    _run(["minisign", "-G", "-W", "-p", trust / "producer.pub", "-s", tmp_path / "p.key"])
    _run(["minisign", "-S", "-s", tmp_path / "p.key", "-m", plain_media / "SHA256SUMS"])

    result = station("verify", plain_media, "--trust", trust, "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    doc = json.loads(result.stdout)
    assert doc["verdict"] == "accepted"
    assert doc["signatures"][0]["signer"] == "producer"

    inspected = json.loads(station("inspect", plain_media, "--json").stdout)
    (archive,) = [i for i in inspected["items"] if i["kind"] == "image-archive"]
    assert archive["images"][0]["references"] == ["registry.example.org/ops/web:3.1"]

    with (plain_media / "README.txt").open("a") as handle:
        handle.write("tampered\n")
    rejected = station("verify", plain_media, "--trust", trust)
    assert rejected.returncode == 1
    assert "README.txt does not match its checksum" in rejected.stdout


@pytest.fixture
def gnupg_home() -> Iterator[Path]:
    _need("gpg")
    _need("gpgv")
    home = Path(tempfile.mkdtemp(prefix="gv", dir="/tmp"))  # agent socket paths are short
    home.chmod(0o700)
    try:
        yield home
    finally:
        subprocess.run(
            ["gpgconf", "--homedir", home, "--kill", "all"],
            capture_output=True,
            timeout=30,
            check=False,
        )
        shutil.rmtree(home, ignore_errors=True)


def test_gpg_signed_plain_media_is_accepted(
    plain_media: Path, tmp_path: Path, gnupg_home: Path
) -> None:
    gpg = ["gpg", "--homedir", gnupg_home, "--batch", "--no-tty"]
    _run(
        [
            *gpg,
            "--passphrase",
            "",
            "--quick-gen-key",
            "Release <rel@example.org>",
            "ed25519",
            "sign",
            "never",
        ]
    )
    trust = tmp_path / "trust"
    trust.mkdir()
    (trust / "release.asc").write_text(
        _run([*gpg, "--armor", "--export", "rel@example.org"]).stdout
    )
    _run(
        [
            *gpg,
            "--armor",
            "--detach-sign",
            "-o",
            plain_media / "SHA256SUMS.asc",
            plain_media / "SHA256SUMS",
        ]
    )

    result = station("verify", plain_media, "--trust", trust, "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    (signature,) = json.loads(result.stdout)["signatures"]
    assert signature["scheme"] == "openpgp" and signature["signer"] == "release"


def test_station_bundle_verifies_with_minisign(tmp_path: Path) -> None:
    _need("minisign")
    keys = tmp_path / "keys"
    keys.mkdir()
    assert station("keys", "generate", "sender", "--dir", keys).returncode == 0
    notes = tmp_path / "notes.txt"
    notes.write_text("hello\n")
    out = tmp_path / "bundle"
    assert station("bundle", "create", out, notes, "--sign", keys / "sender.key").returncode == 0
    result = subprocess.run(
        ["minisign", "-V", "-p", str(keys / "sender.pub"), "-m", str(out / "bundle.json")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Signature and comment signature verified" in result.stdout + result.stderr
