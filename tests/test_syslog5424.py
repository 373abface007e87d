"""Audit records as RFC 5424 messages: one SD-PARAM per field, escaped as section 6.3.3 says."""

from __future__ import annotations

import json
import socket
import syslog
from datetime import UTC, datetime
from pathlib import Path

import pytest

from station.audit import AuditLog, canonical
from station.syslog5424 import (
    SD_ID,
    SyslogSender,
    escape_param_value,
    format_message,
    param_name,
    structured_data,
)


def test_param_values_escape_quote_backslash_and_bracket_only() -> None:
    assert escape_param_value('a"b') == 'a\\"b'
    assert escape_param_value("a\\b") == "a\\\\b"
    assert escape_param_value("a]b") == "a\\]b"
    assert escape_param_value("ünïcode ✓ [x] =") == "ünïcode ✓ [x\\] ="
    assert escape_param_value('\\"]') == '\\\\\\"\\]'


def test_names_must_be_rfc_5424_param_names() -> None:
    assert param_name("torn_sha256") == "torn_sha256"
    for bad in ("a b", "a=b", 'a"', "a]", "", "x" * 33, "é"):
        with pytest.raises(ValueError, match="PARAM-NAME"):
            param_name(bad)


def test_a_message_has_the_header_one_param_per_field_and_the_exact_line() -> None:
    record = {"seq": 7, "event": "login", "actor": 'al"i]c\\e', "digest": None,
              "device": {"vendor": "SanDisk", "size": 8}, "hash": "sha256:ab"}
    line = canonical(record).decode()
    message = format_message(
        record, line, facility=syslog.LOG_AUTHPRIV, hostname="kiosk 1", procid=42,
        now=datetime(2026, 11, 27, 2, 30, tzinfo=UTC),
    ).decode("utf-8")
    header, rest = message.split(f" [{SD_ID} ", 1)
    assert header == "<85>1 2026-11-27T02:30:00.000000Z kiosk1 transfer-station 42 login"
    assert rest.startswith('actor="al\\"i\\]c\\\\e" device="{\\"size\\":8,\\"vendor\\":'
                           '\\"SanDisk\\"}" event="login" hash="sha256:ab" seq="7"] ')
    assert "digest=" not in message  # null fields are left out
    assert message.endswith("] " + line)  # MSG: the canonical record, as in the file
    assert structured_data({}) == f"[{SD_ID}]"


def test_the_log_sends_each_record_to_the_socket(tmp_path: Path) -> None:
    path = str(tmp_path / "log.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(path)
    server.settimeout(2)
    try:
        log = AuditLog(tmp_path / "audit.log", syslog_facility=syslog.LOG_LOCAL0,
                       syslog_socket=path)
        record = log.append("login", actor="ünï")
        message = server.recv(65536).decode("utf-8")
        assert message.startswith("<133>1 ")
        assert 'actor="ünï"' in message and message.endswith(canonical(record).decode())
        assert json.loads(message.split("] ", 1)[1]) == record
    finally:
        server.close()
    assert SyslogSender(path).send(b"x") is False  # nobody listening: dropped, never raised
