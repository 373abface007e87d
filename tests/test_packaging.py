"""The kiosk's system files, checked by the tools that will read them on the kiosk."""

from __future__ import annotations

import re
import shutil
import stat
import subprocess
import time
from pathlib import Path

import pytest

from station.media.mounts import HELPER_PATH

PACKAGING = Path(__file__).resolve().parent.parent / "packaging"
UNIT = PACKAGING / "systemd" / "station-kiosk.service"
RULES = PACKAGING / "udev" / "90-station-media.rules"
SUDOERS = PACKAGING / "sudoers" / "station-media"
INSTALLER = PACKAGING / "install-offline.sh"


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed here")
    return path


def _unit_settings(path: Path) -> dict[tuple[str, str], list[str]]:
    settings: dict[tuple[str, str], list[str]] = {}
    section = ""
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        settings.setdefault((section, key), []).append(value)
    return settings


def _analyze(unit_text: str, tmp_path: Path) -> str:
    """`systemd-analyze verify` on the unit, with ExecStart pointed at a stub that exists
    (the station is not installed in /opt here); every warning it prints is returned."""
    tool = _need("systemd-analyze")
    stub = tmp_path / "station-kiosk"
    stub.write_text("#!/bin/sh\n")
    stub.chmod(0o755)
    unit = tmp_path / "station-kiosk.service"
    unit.write_text(unit_text.replace("/opt/station/venv/bin/station-kiosk", str(stub)))
    result = subprocess.run([tool, "verify", str(unit)], capture_output=True, text=True)
    lines = (result.stdout + result.stderr).splitlines()
    # A container without a booted systemd lacks the standard targets; that is not our unit.
    return "\n".join(line for line in lines if "sysinit.target not found" not in line)


def test_kiosk_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    assert _analyze(UNIT.read_text(), tmp_path) == ""


def test_systemd_analyze_check_would_catch_a_mistake(tmp_path: Path) -> None:
    broken = UNIT.read_text().replace("TTYReset=yes", "TTYReset=yes\nTTYRest=yes")
    assert "TTYRest" in _analyze(broken, tmp_path)


def test_kiosk_runs_unprivileged_on_tty1_and_always_comes_back() -> None:
    s = _unit_settings(UNIT)
    assert s[("Service", "User")] == ["kiosk"]
    assert s[("Service", "TTYPath")] == ["/dev/tty1"]
    assert s[("Service", "StandardInput")] == ["tty"]
    assert s[("Service", "Restart")] == ["always"]
    assert s[("Unit", "Conflicts")] == ["getty@tty1.service"]
    for hardening in ("ProtectSystem", "ProtectHome", "PrivateTmp", "ProtectKernelModules"):
        assert ("Service", hardening) in s
    assert s[("Service", "ExecStart")] == ["/opt/station/venv/bin/station-kiosk"]


def test_kiosk_may_open_enough_files_for_a_large_bundle() -> None:
    """systemd's default soft limit (1024) made a valid bundle with 1,500 folders fail with
    "Too many open files"; the unit raises it (soft and hard)."""
    (value,) = _unit_settings(UNIT)[("Service", "LimitNOFILE")]
    soft, _, hard = value.partition(":")
    assert int(soft) >= 65536
    assert not hard or int(hard) >= int(soft)


MATCH_KEYS = {"ACTION", "SUBSYSTEM", "SUBSYSTEMS", "KERNEL", "DEVPATH", "ENV", "ATTR",
              "ATTRS", "DRIVERS", "TAG", "PROGRAM", "RESULT"}
ASSIGN_KEYS = {"ENV", "RUN", "GOTO", "LABEL", "OWNER", "GROUP", "MODE", "TAG", "SYMLINK",
               "ATTR", "OPTIONS", "IMPORT"}
TOKEN = re.compile(r'^([A-Z_]+)(\{[A-Za-z0-9_]+\})?\s*(==|!=|\+=|-=|:=|=)\s*"([^"]*)"$')


def _rule_tokens(text: str) -> list[list[tuple[str, str, str]]]:
    rules = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        tokens = []
        for part in line.split(", "):
            found = TOKEN.match(part.strip())
            assert found, f"line {number}: not KEY op \"VALUE\": {part!r}"
            key, _, op, value = found.groups()
            allowed = MATCH_KEYS if op in ("==", "!=") else ASSIGN_KEYS
            assert key in allowed, f"line {number}: {key} cannot be used with {op}"
            tokens.append((key, op, value))
        rules.append(tokens)
    return rules


def test_udev_rule_parses_and_its_gotos_land() -> None:
    udevadm = shutil.which("udevadm")
    if udevadm and "verify" in subprocess.run(
        [udevadm, "--help"], capture_output=True, text=True
    ).stdout:
        result = subprocess.run([udevadm, "verify", str(RULES)], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr
    rules = _rule_tokens(RULES.read_text())
    labels = {v for rule in rules for k, _, v in rule if k == "LABEL"}
    gotos = {v for rule in rules for k, _, v in rule if k == "GOTO"}
    assert gotos and gotos <= labels
    for rule in rules:
        for key, _, value in rule:
            if key == "RUN":
                program = value.split()[0]
                assert program.startswith("/"), "udev RUN needs an absolute path"
                if Path("/usr/sbin/blockdev").exists():
                    assert Path(program).exists(), f"{program} does not exist"


def test_udev_rule_hides_usb_storage_from_automounters_and_sets_it_read_only() -> None:
    assignments = {(k, v) for rule in _rule_tokens(RULES.read_text()) for k, op, v in rule
                   if op in ("=", "+=")}
    assert ("ENV", "1") in assignments  # UDISKS_IGNORE=1
    assert "UDISKS_IGNORE" in RULES.read_text()
    assert ("RUN", "/usr/sbin/blockdev --setro $devnode") in assignments
    assert 'ENV{ID_BUS}!="usb", GOTO="station_media_end"' in RULES.read_text()


def test_sudoers_rule_parses_and_allows_only_the_helper_the_code_calls() -> None:
    visudo = _need("visudo")
    result = subprocess.run([visudo, "-cf", str(SUDOERS)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    grants = [line for line in SUDOERS.read_text().splitlines()
              if line.startswith("kiosk ")]
    assert grants == [f"kiosk ALL=(root) NOPASSWD: {HELPER_PATH}"]


def test_offline_installer_fills_an_image_that_systemd_turns_into_user_and_folders(
    tmp_path: Path,
) -> None:
    image = tmp_path / "image"
    result = subprocess.run(
        ["bash", str(INSTALLER), "--root", str(image)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    sudoers = image / "etc/sudoers.d/station-media"
    assert stat.S_IMODE(sudoers.stat().st_mode) == 0o440
    for path in ("etc/udev/rules.d/90-station-media.rules",
                 "etc/systemd/system/station-kiosk.service",
                 "opt/station/share/README.md",
                 "etc/clamav/station-clamd.conf",
                 "etc/systemd/system/clamav-daemon.service.d/station.conf",
                 "etc/systemd/system/clamav-daemon.socket.d/station.conf",
                 "etc/systemd/system/station-kiosk.service.d/clamav.conf",
                 "etc/tmpfiles.d/station-clamav.conf"):
        assert (image / path).is_file(), path

    # What systemd does at the image's first boot, done now with --root.
    subprocess.run([_need("systemd-sysusers"), f"--root={image}"], check=True,
                   capture_output=True)
    with open(image / "etc/group", "a") as groups:  # Debian's clamav-base creates it
        groups.write("clamav:x:990:\n")
    assert "kiosk:x:" in (image / "etc/passwd").read_text()
    assert ":/usr/sbin/nologin" in (image / "etc/passwd").read_text()
    subprocess.run([_need("systemd-tmpfiles"), f"--root={image}", "--create",
                    "--prefix=/var/lib/station", "--prefix=/run/station"], check=True,
                   capture_output=True)
    home = (image / "var/lib/station").stat()
    assert stat.S_IMODE(home.st_mode) == 0o750
    databases = (image / "var/lib/station/clamav-db").stat()  # kiosk writes, clamd reads
    assert stat.S_IMODE(databases.st_mode) == 0o2750 and databases.st_gid == 990
    assert (image / "run/station/media").is_dir()


def test_offline_installer_without_a_wheelhouse_explains_itself(tmp_path: Path) -> None:
    missing = subprocess.run(["bash", str(INSTALLER), str(tmp_path)], capture_output=True,
                             text=True)
    assert missing.returncode == 1
    assert "no transfer_station-*.whl" in missing.stderr
    usage = subprocess.run(["bash", str(INSTALLER)], capture_output=True, text=True)
    assert usage.returncode == 2 and "WHEELHOUSE" in usage.stderr


# -- malware scanning: clamd on the station's databases ------------------------------------

CLAMAV = PACKAGING / "clamav"
CLAMD_CONF = CLAMAV / "station-clamd.conf"
DEBIAN_UNITS = Path("/lib/systemd/system")


def _clamd_settings() -> dict[str, str]:
    settings = {}
    for line in CLAMD_CONF.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition(" ")
            assert key not in settings, f"{key} set twice"
            settings[key] = value.strip()
    return settings


def test_packaged_clamd_reads_the_station_databases_on_the_socket_the_station_calls() -> None:
    from station.malware.settings import DEFAULT_CLAMD

    s = _clamd_settings()
    assert s["DatabaseDirectory"] == "/var/lib/station/clamav-db"
    assert f"unix://{s['LocalSocket']}" == DEFAULT_CLAMD
    assert s["AlertExceedsMax"] == "yes"  # else clamd answers OK for what it skipped
    assert s["Foreground"] == "yes" and s["User"] == "clamav"


def test_packaged_clamd_configuration_starts_a_real_clamd(tmp_path: Path) -> None:
    """clamd refuses unknown or malformed options at start: run it on the packaged file with
    only the paths moved into the test's folder."""
    import tempfile

    from tests.real.clamd_server import EICAR, write_test_databases

    clamd = _need("clamd")
    root = Path(tempfile.mkdtemp(prefix="cp-", dir="/tmp"))
    try:
        write_test_databases(root / "db")
        text = (CLAMD_CONF.read_text()
                .replace("/run/clamav/clamd.ctl", f"{root}/clamd.ctl")
                .replace("/run/clamav/station-clamd.pid", f"{root}/clamd.pid")
                .replace("/var/lib/station/clamav-db", f"{root}/db")
                .replace("User clamav\n", ""))
        (root / "clamd.conf").write_text(text)
        with open(root / "out", "wb") as out:
            process = subprocess.Popen([clamd, "-c", str(root / "clamd.conf")], stdout=out,
                                       stderr=out)
        try:
            from station.malware.clamd import Clamd
            from station.malware.scanning import Outcome, Scanner

            engine = Clamd(f"unix://{root}/clamd.ctl", timeout=5)
            for _ in range(200):
                if process.poll() is not None or (root / "clamd.ctl").exists():
                    break
                time.sleep(0.05)
            assert process.poll() is None, (root / "out").read_text()
            engine.ping()
            assert Scanner(engine).scan_bytes(EICAR, "eicar").outcome is Outcome.FOUND
            engine.reload()
        finally:
            process.terminate()
            process.wait(20)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _merged(unit: str, drop_in: Path) -> str:
    return unit + "\n" + drop_in.read_text()


def test_kiosk_with_the_clamav_drop_in_passes_systemd_analyze_and_comes_after_clamd(
    tmp_path: Path,
) -> None:
    drop_in = CLAMAV / "station-kiosk.service.d" / "clamav.conf"
    assert _analyze(_merged(UNIT.read_text(), drop_in), tmp_path) == ""
    merged = tmp_path / "merged.service"
    merged.write_text(drop_in.read_text())
    s = _unit_settings(merged)
    assert s[("Unit", "Wants")] == ["clamav-daemon.service"]
    assert "clamav-daemon.service" in s[("Unit", "After")][0].split()


@pytest.mark.parametrize("name", ["clamav-daemon.service", "clamav-daemon.socket"])
def test_debian_clamav_units_with_the_station_drop_ins_pass_systemd_analyze(
    tmp_path: Path, name: str,
) -> None:
    tool = _need("systemd-analyze")
    debian = DEBIAN_UNITS / name
    if not debian.exists():
        print(f"skipping: {debian} is not installed (Debian package clamav-daemon)")
        pytest.skip(f"{debian} is not installed (Debian package clamav-daemon)")
    drop_in = CLAMAV / f"{name}.d" / "station.conf"
    unit = tmp_path / name
    unit.write_text(_merged(debian.read_text(), drop_in))
    result = subprocess.run([tool, "verify", str(unit)], capture_output=True, text=True)
    lines = [line for line in (result.stdout + result.stderr).splitlines()
             if "sysinit.target not found" not in line]
    assert lines == []
    if name.endswith(".service"):
        s = _unit_settings(unit)
        assert s[("Service", "ExecStart")][-1] == (
            "/usr/sbin/clamd --foreground=true --config-file=/etc/clamav/station-clamd.conf")
        assert s[("Service", "ExecStart")][-2] == ""  # Debian's ExecStart is reset
