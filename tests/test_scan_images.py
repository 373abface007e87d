"""Scanning real package databases built into OCI images, against real OSV records.

The Debian 12 image carries this machine's own /var/lib/dpkg/status; Python packages are the
project's own .venv dist-info folders (with an older Version: where a test needs an outdated
install); the records are real osv.dev / GitHub advisory records (tests/fixtures/osv).
"""

from __future__ import annotations

import copy
import tarfile
from pathlib import Path
from typing import Any

import pytest

from station.scan.errors import ScanError
from station.scan.scanner import scan_layout
from station.scan.vulndb import VulnDB
from tests.oci_fixtures import Member
from tests.scan_builders import (
    build_image,
    dpkg_stanza,
    dpkg_version,
    os_release,
    osv_zip,
    real_dist_info,
    real_dpkg_status,
    record,
    with_version,
)

SITE = "usr/lib/python3/dist-packages"


def install(home: Path, tmp_path: Path, *records: dict[str, Any], name: str = "export") -> VulnDB:
    db = VulnDB(home)
    db.install(osv_zip(tmp_path / f"{name}.zip", records), bundle_digest="sha256:" + "ab" * 32)
    return db


def found(layout: Path, db: VulnDB) -> set[tuple[str, str, str]]:
    report = scan_layout(layout, None, db)
    return {(v.id, v.package, v.installed) for image in report.images
            for v in image.vulnerabilities}


def debian12_record(fixed: str) -> dict[str, Any]:
    """Built in the test (labelled so): no real bookworm record was at hand (fixtures README)."""
    return {
        "id": "TEST-DEBIAN12-OPENSSL", "modified": "2026-10-01T00:00:00Z",
        "aliases": ["CVE-2099-0001"],
        "affected": [{"package": {"ecosystem": "Debian:12", "name": "openssl"},
                      "ranges": [{"type": "ECOSYSTEM",
                                  "events": [{"introduced": "0"}, {"fixed": fixed}]}]}],
        "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
    }


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def test_machine_dpkg_status_is_catalogued_and_matched_in_its_release_only(
    tmp_path: Path, home: Path
) -> None:
    status = real_dpkg_status()
    installed = dpkg_version(status, "libssl3")  # source openssl, e.g. 3.0.19-1~deb12u2
    upstream, _, revision = installed.partition("-")
    next_tilde = f"{upstream}-{revision.rsplit('u', 1)[0]}u{int(revision.rsplit('u', 1)[1]) + 1}"
    layout = tmp_path / "oci"
    build_image(layout, "debian:12", [{"etc/os-release": os_release("debian", "12"),
                                       "var/lib/dpkg/status": status}])
    # DLA-3008-1 is for openssl in Debian 9: never applied to a Debian 12 image.
    db = install(home, tmp_path, record("DLA-3008-1.json"), debian12_record(next_tilde))
    report = scan_layout(layout, None, db)
    (image,) = report.images
    assert len(image.packages) >= 700  # every installed package of this machine
    assert image.distro_ecosystem == "Debian:12"
    hits = {(v.id, v.package) for v in image.vulnerabilities}
    assert ("TEST-DEBIAN12-OPENSSL", "libssl3") in hits  # `~deb12u3` is newer than `~deb12u2`
    assert not any(v.id == "DLA-3008-1" for v in image.vulnerabilities)
    match = next(v for v in image.vulnerabilities if v.package == "libssl3")
    assert (match.installed, match.fixed, match.severity) == (installed, next_tilde, "CRITICAL")


def test_tilde_fix_already_installed_is_not_reported(tmp_path: Path, home: Path) -> None:
    status = real_dpkg_status()
    installed = dpkg_version(status, "libssl3")
    layout = tmp_path / "oci"
    build_image(layout, "debian:12", [{"etc/os-release": os_release("debian", "12"),
                                       "var/lib/dpkg/status": status}])
    # The fix is exactly what is installed; "-1" without ~ sorts after every ~deb12uN.
    plain = installed.split("~")[0]
    db = install(home, tmp_path, debian12_record(installed))
    assert not found(layout, db)
    newer = {**debian12_record(plain), "modified": "2026-10-02T00:00:00Z"}
    db = install(home, tmp_path, newer, name="newer")
    assert {v[0] for v in found(layout, db)} == {"TEST-DEBIAN12-OPENSSL"}


@pytest.mark.parametrize(
    ("release", "version", "reported"),
    [
        ("9", "1.1.0l-1~deb9u5", True),  # listed, and below the ~deb9u6 fix
        ("9", "1.1.0l-1~deb9u6", False),  # the fix itself
        ("9", "1.1.0l-1", False),  # without ~ it sorts after every ~deb9uN
        ("9", "1:1.0.0-1", False),  # an epoch outranks any version without one
        ("11", "1.1.0l-1~deb9u5", False),  # the record is for Debian 9 only
    ],
)
def test_debian_record_with_epochs_tildes_and_releases(
    tmp_path: Path, home: Path, release: str, version: str, reported: bool
) -> None:
    layout = tmp_path / "oci"
    status = dpkg_stanza("libssl1.1", version, source=f"openssl ({version})")
    build_image(layout, "old:1", [{"etc/os-release": os_release("debian", release),
                                   "var/lib/dpkg/status": status.encode()}])
    db = install(home, tmp_path, record("DLA-3008-1.json"))
    hits = found(layout, db)
    assert hits == ({("DLA-3008-1", "libssl1.1", version)} if reported else set())


def test_binnmu_is_matched_by_its_source_version(tmp_path: Path, home: Path) -> None:
    layout = tmp_path / "oci"
    status = dpkg_stanza("tzdata", "2021a-0+deb9u3+b1", source="tzdata (2021a-0+deb9u3)")
    build_image(layout, "old:1", [{"etc/os-release": os_release("debian", "9"),
                                   "var/lib/dpkg/status": status.encode()}])
    db = install(home, tmp_path, record("DLA-3051-1.json"))
    assert found(layout, db) == {("DLA-3051-1", "tzdata", "2021a-0+deb9u3+b1")}


def apk_database(version: str) -> bytes:
    return (
        f"C:Q1abc=\nP:musl\nV:{version}\nA:x86_64\no:musl\n\n"
        f"P:musl-utils\nV:{version}\no:musl\n\n"
        "P:busybox\nV:1.36.1-r15\no:busybox\n"
    ).encode()


def test_alpine_origin_package_in_its_branch(tmp_path: Path, home: Path) -> None:
    layout = tmp_path / "oci"
    build_image(layout, "alpine:3.18", [{"etc/os-release": os_release("alpine", "3.18.4"),
                                         "lib/apk/db/installed": apk_database("1.2.4-r2")}],
                compression="zstd")
    build_image(layout, "alpine:3.20", [{"etc/os-release": os_release("alpine", "3.20.0"),
                                         "lib/apk/db/installed": apk_database("1.2.5-r1")}])
    db = install(home, tmp_path, record("ALPINE-CVE-2025-26519.json"))
    old, new = scan_layout(layout, None, db).images
    assert {(v.package, v.fixed, v.severity) for v in old.vulnerabilities} == {
        ("musl", "1.2.4-r3", "HIGH"), ("musl-utils", "1.2.4-r3", "HIGH")}
    assert old.distro_ecosystem == "Alpine:v3.18"
    assert not new.vulnerabilities  # 1.2.5-r1 is v3.20's fix


def test_alpine_versions_univers_cannot_read_are_problems_not_clean(
    tmp_path: Path, home: Path
) -> None:
    # musl of Alpine 3.19 really is 1.2.4_git20230717-r4; univers (issue #59) refuses `_git`.
    layout = tmp_path / "oci"
    build_image(layout, "alpine:3.19", [{"etc/os-release": os_release("alpine", "3.19.1"),
                                         "lib/apk/db/installed": apk_database(
                                             "1.2.4_git20230717-r4")}])
    db = install(home, tmp_path, record("ALPINE-CVE-2025-26519.json"))
    (image,) = scan_layout(layout, None, db).images
    assert not image.vulnerabilities
    assert {p.message.split(" against ")[0] for p in image.problems} == {
        "musl 1.2.4_git20230717-r4", "musl-utils 1.2.4_git20230717-r4"}


def test_python_and_npm_ranges_versions_and_withdrawn(tmp_path: Path, home: Path) -> None:
    layout = tmp_path / "oci"
    files = {
        **with_version(real_dist_info("jinja2"), "3.1.2"),  # ECOSYSTEM range: < 3.1.3
        **with_version(real_dist_info("cryptography"), "3.3.1"),  # only a withdrawn record
        **real_dist_info("packaging"),  # current: nothing
        "srv/app/node_modules/ansi-html/package.json": b'{"name": "ansi-html", "version": "0.0.7"}',
        "srv/app/node_modules/ansi-html/lib/package.json": b'{"name": "not-a-package"}',
    }
    build_image(layout, "app:1", [files], compression="tar")
    flask = {**with_version(real_dist_info("jinja2"), "2.3.1")}
    flask = {p.replace("jinja2-", "Flask-"): d.replace(b"Name: Jinja2", b"Name: Flask")
             for p, d in flask.items()}
    build_image(layout, "flask:1", [flask])
    db = install(home, tmp_path, record("GHSA-h5c8-rqwp-cp95.json"), record("PYSEC-2021-63.json"),
                 record("GHSA-whgm-jr23-g3j9.json"), record("PYSEC-2023-62.json"))
    report = scan_layout(layout, None, db)
    app, flask_image = report.images
    assert {(v.id, v.package, v.installed, v.fixed, v.severity) for v in app.vulnerabilities} == {
        ("GHSA-h5c8-rqwp-cp95", "Jinja2", "3.1.2", "3.1.3", "MEDIUM"),
        ("GHSA-whgm-jr23-g3j9", "ansi-html", "0.0.7", "0.0.8", "HIGH"),
    }
    assert not app.problems
    # flask 2.3.1: in the second interval (introduced 2.3.0, fixed 2.3.2) and listed
    assert {(v.id, v.fixed) for v in flask_image.vulnerabilities} == {("PYSEC-2023-62", "2.3.2")}


def test_whiteout_removes_a_vulnerable_package_of_a_lower_layer(tmp_path: Path, home: Path) -> None:
    old = with_version(real_dist_info("jinja2"), "3.1.2")
    folder = next(iter(old)).rsplit("/", 1)[0]
    layout = tmp_path / "oci"
    build_image(layout, "removed:1", [old, [Member(f"{SITE}/.wh.{folder.rsplit('/', 1)[1]}")]])
    build_image(layout, "upgraded:1", [old, with_version(real_dist_info("jinja2"), "3.1.6")],
                compression=["gzip", "zstd"])
    build_image(layout, "kept:1", [old, {"etc/motd": b"hello"}])
    db = install(home, tmp_path, record("GHSA-h5c8-rqwp-cp95.json"))
    report = scan_layout(layout, None, db)
    by_ref = {image.reference.removeprefix("docker.io/library/"): image for image in report.images}
    assert not by_ref["removed:1"].vulnerabilities and not by_ref["removed:1"].packages
    assert not by_ref["upgraded:1"].vulnerabilities
    assert [p.version for p in by_ref["upgraded:1"].packages] == ["3.1.6"]
    assert len(by_ref["kept:1"].vulnerabilities) == 1


def test_opaque_folder_hides_everything_below_it(tmp_path: Path, home: Path) -> None:
    old = with_version(real_dist_info("jinja2"), "3.1.2")
    layout = tmp_path / "oci"
    upper = [Member(SITE, type=tarfile.DIRTYPE), Member(f"{SITE}/.wh..wh..opq"),
             *(Member(p, d) for p, d in real_dist_info("packaging").items())]
    build_image(layout, "opaque:1", [old, upper])
    db = install(home, tmp_path, record("GHSA-h5c8-rqwp-cp95.json"))
    (image,) = scan_layout(layout, None, db).images
    assert [p.name for p in image.packages] == ["packaging"]
    assert not image.vulnerabilities


def test_a_file_replacing_a_folder_hides_it_and_links_are_never_followed_out(
    tmp_path: Path, home: Path
) -> None:
    old = with_version(real_dist_info("jinja2"), "3.1.2")
    layout = tmp_path / "oci"
    build_image(layout, "covered:1", [old, [Member(SITE, b"now a file")]])
    build_image(layout, "linked:1", [
        {"etc/os-release": os_release("debian", "9"),
         "srv/status": dpkg_stanza("tzdata", "2019c-3").encode()},
        [Member("var/lib/dpkg/status", type=tarfile.SYMTYPE, linkname="../../../srv/status"),
         Member("usr/lib/os-release", type=tarfile.SYMTYPE, linkname="/etc/os-release")],
    ])
    db = install(home, tmp_path, record("GHSA-h5c8-rqwp-cp95.json"), record("DLA-3051-1.json"))
    images = scan_layout(layout, None, db).images
    by_ref = {i.reference.removeprefix("docker.io/library/"): i for i in images}
    assert not by_ref["covered:1"].packages
    # The status link points at a file the scanner does not keep: said, not guessed.
    linked = by_ref["linked:1"]
    assert not linked.packages
    assert any(p.path == "var/lib/dpkg/status" and "link" in p.message for p in linked.problems)


def test_hostile_package_metadata_becomes_problems_not_errors(tmp_path: Path, home: Path) -> None:
    layout = tmp_path / "oci"
    huge_status = b"Package: a\nVersion: 1\n\n" * (65 * 1024 * 1024 // 23)
    build_image(layout, "hostile:1", [{
        "etc/os-release": os_release("debian", "12"),
        "var/lib/dpkg/status": huge_status,
        f"{SITE}/bad-1.0.dist-info/METADATA": b"\xff\xfe\x00garbage\x00\n\n\x80",
        f"{SITE}/noversion-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: noversion\n",
        f"{SITE}/weird-1.0.dist-info/METADATA": b"Name: weird\nVersion: not-a-version!!\n",
        "node_modules/deep/package.json": b"[" * 200_000,
        "node_modules/dupe/package.json": b'{"name": "dupe", "version": "1.0.0", "version": "9"}',
        "node_modules/long/package.json": b'{"name": "long", "version": "' + b"9" * 5000 + b'"}',
        "var/lib/dpkg/status.d/broken": b"Package: \xff\xff\nVersion: ???\n",
    }], compression="zstd")
    db = install(home, tmp_path, record("GHSA-h5c8-rqwp-cp95.json"))
    (image,) = scan_layout(layout, None, db).images
    problems = {p.path: p.message for p in image.problems}
    assert "over the" in problems["var/lib/dpkg/status"]
    for path in (f"{SITE}/noversion-1.0.dist-info/METADATA", f"{SITE}/weird-1.0.dist-info/METADATA",
                 "node_modules/deep/package.json", "node_modules/dupe/package.json",
                 "node_modules/long/package.json", "var/lib/dpkg/status.d/broken"):
        assert path in problems, path
    assert not image.packages


def test_deep_nested_versions_and_a_huge_pax_header_are_refused(tmp_path: Path, home: Path) -> None:
    layout = tmp_path / "oci"
    good = {"etc/motd": b"x"}
    build_image(layout, "pax:1", [[Member("etc/motd", b"x", pax={"comment": "c" * (2 << 20)})]])
    db = install(home, tmp_path, record("GHSA-h5c8-rqwp-cp95.json"))
    with pytest.raises(ScanError, match="not a readable tar"):
        scan_layout(layout, None, db)
    other = tmp_path / "oci2"
    built = build_image(other, "ok:1", [good], compression="gzip")
    blob = other / "blobs" / "sha256" / built.layer_digests[0].removeprefix("sha256:")
    data = bytearray(blob.read_bytes())
    data[-9] ^= 0xFF  # gzip CRC trailer
    blob.write_bytes(bytes(data))
    with pytest.raises(ScanError):
        scan_layout(other, None, db)


def test_altered_layer_blob_is_refused(tmp_path: Path, home: Path) -> None:
    layout = tmp_path / "oci"
    built = build_image(layout, "x:1", [{"etc/motd": b"hello"}], compression="tar")
    blob = layout / "blobs" / "sha256" / built.layer_digests[0].removeprefix("sha256:")
    data = bytearray(blob.read_bytes())
    data[600] ^= 1  # inside the file content: the tar still reads
    blob.write_bytes(bytes(data))
    db = install(home, tmp_path, record("GHSA-h5c8-rqwp-cp95.json"))
    with pytest.raises(ScanError, match="does not match its digest"):
        scan_layout(layout, None, db)


def test_references_choose_images_and_unknown_ones_are_errors(tmp_path: Path, home: Path) -> None:
    layout = tmp_path / "oci"
    build_image(layout, "a:1", [{"etc/motd": b"a"}])
    second = build_image(layout, "b:1", [{"etc/motd": b"b"}])
    db = install(home, tmp_path, copy.deepcopy(record("GHSA-h5c8-rqwp-cp95.json")))
    report = scan_layout(layout, ["b:1"], db)
    assert [i.config_digest for i in report.images] == [second.config_digest]
    with pytest.raises(ScanError, match="holds no image 'c:1'"):
        scan_layout(layout, ["c:1"], db)


def test_cancel_stops_the_scan_and_progress_counts_layer_bytes(tmp_path: Path, home: Path) -> None:
    import threading

    from station.errors import Cancelled

    layout = tmp_path / "oci"
    built = build_image(layout, "big:1", [{f"opt/f{i}": bytes(1 << 20) for i in range(4)}],
                        compression="tar")
    db = install(home, tmp_path, record("GHSA-h5c8-rqwp-cp95.json"))
    seen: list[int] = []
    scan_layout(layout, None, db, on_progress=lambda p: seen.append(p.done))
    size = (layout / "blobs" / "sha256" / built.layer_digests[0].removeprefix("sha256:")).stat()
    assert seen and seen[-1] == size.st_size
    stop = threading.Event()
    stop.set()
    with pytest.raises(Cancelled):
        scan_layout(layout, None, db, cancel=stop)
