"""The `station` command as scripts use it: exit codes, JSON fields, messages, no tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from station.publish.imagebuild import build_oci_layout, write_oci_archive
from tests.builders import Signer, make_sums_bundle

STATION = [sys.executable, "-m", "station.cli.main"]


def station(*args: str | Path, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "STATION_HOME": str(home)}
    env.pop("STATION_DEBUG", None)
    return subprocess.run(
        [*STATION, *map(str, args)], capture_output=True, text=True, env=env, timeout=60
    )


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


def test_verify_json_accepted(tmp_path: Path, home: Path, signer: Signer) -> None:
    root = make_sums_bundle(tmp_path / "media", {"a": b"1", "b": b"2"}, signer)
    result = station("verify", root, "--trust", signer.trust, "--json", home=home)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["verdict"] == "accepted"
    assert doc["bundle_digest"].startswith("sha256:")
    assert doc["signatures"][0]["signer"] == "alice"
    assert doc["signatures"][0]["valid"] is True
    assert doc["signatures"][0]["scheme"] == "minisign"
    assert {i["path"] for i in doc["items"]} == {"a", "b"}
    assert all(i["ok"] and i["size"] == 1 and len(i["sha256"]) == 64 for i in doc["items"])
    assert doc["problems"] == [] and doc["warnings"] == []


def test_verify_rejected_exits_1_and_names_the_file(
    tmp_path: Path, home: Path, signer: Signer
) -> None:
    root = make_sums_bundle(tmp_path / "media", {"a": b"1", "b": b"2"}, signer)
    (root / "b").write_bytes(b"3")
    result = station("verify", root, "--trust", signer.trust, home=home)
    assert result.returncode == 1
    assert "Verdict:  REJECTED" in result.stdout
    assert "b does not match its checksum" in result.stdout


def test_trust_folder_of_the_home_is_the_default(
    tmp_path: Path, home: Path, signer: Signer
) -> None:
    root = make_sums_bundle(tmp_path / "media", {"a": b"1"}, signer)
    (home / "trust").mkdir()
    (home / "trust" / signer.public.name).write_bytes(signer.public.read_bytes())
    assert station("verify", root, home=home).returncode == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["verify", "/nonexistent/media", "--trust", "."], "is not a folder"),
        (["inspect", "/etc"], "no bundle.json or SHA256SUMS"),
        (["verify"], "the following arguments are required"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_errors_exit_2_with_a_message_and_no_traceback(
    home: Path, args: list[str], message: str
) -> None:
    result = station(*args, home=home)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_garbage_manifest_is_an_error_not_a_traceback(tmp_path: Path, home: Path) -> None:
    (tmp_path / "bundle.json").write_bytes(b"\x00\xff{not json")
    result = station("inspect", tmp_path, home=home)
    assert result.returncode == 2
    assert "bundle.json: the manifest is not valid JSON" in result.stderr
    assert "Traceback" not in result.stderr


def test_keys_generate_bundle_create_inspect_and_verify(tmp_path: Path, home: Path) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    assert station("keys", "generate", "release", "--dir", keys, home=home).returncode == 0
    trust = tmp_path / "trust"
    trust.mkdir()
    (trust / "release.pub").write_bytes((keys / "release.pub").read_bytes())

    layout = tmp_path / "layout"
    build_oci_layout(layout, "registry.example.org/ops/app:2.1", {"bin/app": b"#!/bin/true\n"})
    archive = tmp_path / "app.tar"
    write_oci_archive(layout, archive)
    notes = tmp_path / "NOTES.txt"
    notes.write_text("hello\n")
    out = tmp_path / "stick" / "bundle"
    created = station(
        "bundle", "create", out, notes, "--sign", keys / "release.key",
        "--image-archive", archive, "--channel", "ops", "--sequence", "9", home=home,
    )
    assert created.returncode == 0, created.stderr

    inspected = station("inspect", out, "--json", home=home)
    assert inspected.returncode == 0, inspected.stderr
    doc = json.loads(inspected.stdout)
    assert doc["info"]["channel"] == "ops" and doc["info"]["sequence"] == 9
    (image_item,) = [i for i in doc["items"] if i["kind"] == "image-archive"]
    assert image_item["references"] == ["registry.example.org/ops/app:2.1"]
    (image,) = image_item["images"]
    assert image["platform"] == "linux/amd64" and len(image["layers"]) == 1

    text = station("inspect", out, home=home).stdout
    assert "registry.example.org/ops/app:2.1" in text and "layer sha256:" in text

    verified = station("verify", out, "--trust", trust, "--json", home=home)
    assert verified.returncode == 0, verified.stdout
    assert json.loads(verified.stdout)["signatures"][0]["signer"] == "release"

    again = station("bundle", "create", out, notes, "--sign", keys / "release.key", home=home)
    assert again.returncode == 2 and "already exists" in again.stderr
