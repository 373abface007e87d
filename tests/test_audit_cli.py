"""`station audit` and `station operators` as an administrator uses them."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from station.audit import AuditLog
from station.cli import main as cli

DIGEST = "sha256:" + "c" * 64


@pytest.fixture(autouse=True)
def only_these_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    # Other command groups are written in parallel; these tests need only their own.
    monkeypatch.setattr(
        cli,
        "COMMAND_MODULES",
        {"audit": "station.cli.audit", "operators": "station.cli.operators"},
    )


def _run(home: Path, *argv: str) -> int:
    return cli.main(["--home", str(home), *argv])


def _add(home: Path, name: str, role: str, pin: str, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(pin + "\n"))
    return _run(home, "operators", "add", name, "--role", role, "--pin-stdin")


def test_audit_verify_exit_codes_name_the_broken_record(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(tmp_path, "audit", "verify") == 2  # no log at all is not "intact"
    assert "no audit log" in capsys.readouterr().err
    log = AuditLog(tmp_path / "audit.log")
    for step in range(3):
        log.append("import-step", actor="rig", digest=DIGEST, step=step)
    assert _run(tmp_path, "audit", "verify") == 0
    assert "3 records" in capsys.readouterr().out

    lines = log.path.read_bytes().splitlines(keepends=True)
    lines[1] = lines[1].replace(b'"step":1', b'"step":5')
    log.path.write_bytes(b"".join(lines))
    assert _run(tmp_path, "audit", "verify") == 1
    assert "broken at line 2" in capsys.readouterr().err
    assert _run(tmp_path, "audit", "verify", "--json") == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False and report["broken_at"] == 2 and report["records"] == 1


def test_audit_show_filters(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = AuditLog(tmp_path / "audit.log")
    log.append("approval", actor="alice", digest=DIGEST)
    log.append("approval", actor="bob", digest="sha256:" + "d" * 64)
    assert _run(tmp_path, "audit", "show", "--operator", "bob", "--json") == 0
    shown = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["actor"] for r in shown] == ["bob"]
    assert _run(tmp_path, "audit", "show", "--digest", "cccc") == 0
    out = capsys.readouterr().out
    assert "actor=alice" in out and "bob" not in out
    assert _run(tmp_path, "audit", "show", "--since", "2999-01-01") == 0
    assert capsys.readouterr().out == ""
    assert _run(tmp_path, "audit", "show", "--since", "yesterday") == 2
    assert "--since" in capsys.readouterr().err


def test_operators_add_list_disable_enable_are_audited(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _add(tmp_path, "alice", "operator", "alice-pin", monkeypatch) == 0
    assert _add(tmp_path, "bob", "verifier", "bob-pin1", monkeypatch) == 0
    assert _add(tmp_path, "bob", "admin", "bob-pin2", monkeypatch) == 2
    assert "already exists" in capsys.readouterr().err
    assert _add(tmp_path, "carol", "admin", "12", monkeypatch) == 2
    assert _run(tmp_path, "operators", "disable", "bob") == 0
    assert capsys.readouterr().out == "disabled bob\n"
    assert _run(tmp_path, "operators", "list", "--json") == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["name"], r["role"], r["status"]) for r in rows] == [
        ("alice", "operator", "enabled"),
        ("bob", "verifier", "disabled"),
    ]
    assert _run(tmp_path, "operators", "enable", "bob") == 0
    assert _run(tmp_path, "operators", "disable", "nobody") == 2
    actions = [r["action"] for r in AuditLog(tmp_path / "audit.log").records()]
    assert actions == ["operator-added", "operator-added", "operator-disabled", "operator-enabled"]
    assert _run(tmp_path, "audit", "verify") == 0
