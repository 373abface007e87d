"""Audit records as RFC 5424 syslog messages, so a site's collector keeps its own copy.

Each record becomes one message: the header (`<PRI>1 TIME HOST transfer-station PID EVENT`),
one structured-data element `[audit@32473 ...]` with one SD-PARAM per record field (objects
and lists as JSON text), and as MSG the record's exact canonical line (MSG-ANY, no BOM: the
collector's copy of the lines is byte for byte the log, and `station audit verify` checks
it). SD-ID `audit@32473` uses the private enterprise number RFC 5612 reserves for
documentation. Values are escaped as RFC 5424 section 6.3.3 says (`"`, `\\` and `]` get a
backslash); names that are not PARAM-NAMEs are refused (record fields are lower-case words).
Messages go as datagrams to a local socket (`/dev/log`, or `[audit] syslog_socket`):
rsyslog's imuxsock with its RFC 5424 parser reads them (packaging/rsyslog/). Sending is best
effort: the file is the record; a copy that cannot be sent never stops the station.
"""

from __future__ import annotations

import json
import os
import re
import socket
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

SD_ID = "audit@32473"
APP_NAME = "transfer-station"
NOTICE = 5
DEFAULT_SOCKET = "/dev/log"
_NAME = re.compile(r"^[!-~]{1,32}$")  # PRINTUSASCII, 1 to 32 characters
_NOT_IN_NAME = frozenset('= ]"')


def escape_param_value(value: str) -> str:
    """PARAM-VALUE escaping (RFC 5424 6.3.3): `"`, `\\` and `]` are preceded by `\\`."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def param_name(key: str) -> str:
    """The key as a PARAM-NAME; refused (ValueError) if RFC 5424 does not allow it."""
    if not _NAME.match(key) or _NOT_IN_NAME & set(key):
        raise ValueError(f"{key!r} is not an RFC 5424 PARAM-NAME")
    return key


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def structured_data(record: Mapping[str, Any]) -> str:
    """`[audit@32473 key="value" ...]`: one SD-PARAM per field, in sorted order."""
    params = " ".join(
        f'{param_name(key)}="{escape_param_value(_text(record[key]))}"'
        for key in sorted(record)
        if record[key] is not None
    )
    return f"[{SD_ID} {params}]" if params else f"[{SD_ID}]"


def _header_field(value: str, limit: int) -> str:
    """A header field: printable US-ASCII without spaces, or the NILVALUE `-`."""
    cleaned = "".join(c for c in value if "!" <= c <= "~")[:limit]
    return cleaned or "-"


def format_message(
    record: Mapping[str, Any],
    line: str,
    *,
    facility: int,
    hostname: str | None = None,
    procid: int | None = None,
    now: datetime | None = None,
) -> bytes:
    """One RFC 5424 message for one audit record; `facility` as the syslog module's LOG_*."""
    stamp = (now or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="microseconds")
    stamp = stamp.replace("+00:00", "Z")
    host = _header_field(hostname if hostname is not None else socket.gethostname(), 255)
    pid = str(procid if procid is not None else os.getpid())
    msgid = _header_field(str(record.get("event", "")), 32)
    header = f"<{facility | NOTICE}>1 {stamp} {host} {APP_NAME} {pid} {msgid}"
    return f"{header} {structured_data(record)} {line}".encode()


class SyslogSender:
    """Sends datagrams to a local syslog socket; reconnects once per message if it moved."""

    def __init__(self, path: str = DEFAULT_SOCKET) -> None:
        self.path = path
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()

    def send(self, message: bytes) -> bool:
        """True if the socket took the message; never raises."""
        with self._lock:
            for _attempt in range(2):
                try:
                    if self._sock is None:
                        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                        sock.connect(self.path)
                        self._sock = sock
                    self._sock.send(message)
                    return True
                except OSError:
                    if self._sock is not None:
                        self._sock.close()
                    self._sock = None
            return False


def syslog_forwarder(facility: int, socket_path: str = DEFAULT_SOCKET) -> Callable[[str], None]:
    """A `forward` callback for AuditLog: each written line goes out as RFC 5424."""
    sender = SyslogSender(socket_path)

    def forward(line: str) -> None:
        try:
            record = json.loads(line)
            message = format_message(record, line, facility=facility)
        except ValueError:
            return
        sender.send(message)

    return forward
