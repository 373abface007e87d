"""End to end: `station-kiosk --demo` in a real terminal (tmux), driven with keys.

A genuine bundle goes through every step to the receipt, then the tampered one is rejected;
the screen text is read back with `capture-pane`, the audit log afterwards.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.real

KIOSK = Path(sys.executable).with_name("station-kiosk")


class Terminal:
    """One tmux server of our own (`-L`), one 120x40 window running the kiosk."""

    def __init__(self, command: list[str]) -> None:
        self.socket = f"kiosk-test-{uuid.uuid4().hex[:8]}"
        self._tmux("new-session", "-d", "-s", "kiosk", "-x", "120", "-y", "40",
                   " ".join(command))

    def _tmux(self, *args: str) -> subprocess.CompletedProcess[str]:
        # pytest sets COLUMNS/LINES for its own output; the kiosk must size to the window.
        env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True,
                              text=True, check=False, timeout=10, env=env)

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", "kiosk").stdout

    def keys(self, *keys: str) -> None:
        for key in keys:
            self._tmux("send-keys", "-t", "kiosk", key)
            time.sleep(0.05)

    def type(self, text: str, *, shown: str | None = None) -> None:
        """Type into the focused field at a person's pace: wait until it shows, then Enter.

        (Keys sent faster than the app moves focus would land in the old field.)
        """
        self._tmux("send-keys", "-t", "kiosk", "-l", text)
        self.wait_for(shown or text)
        self.keys("Enter")
        time.sleep(0.3)

    def wait_for(self, text: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.1)
        raise AssertionError(f"{text!r} never appeared; the screen shows:\n{self.screen()}")

    def running(self) -> bool:
        return self._tmux("has-session", "-t", "kiosk").returncode == 0

    def close(self) -> None:
        self._tmux("kill-server")


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[tuple[Terminal, Path]]:
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed (scripts/test.sh installs it)")
    home = tmp_path / "demo"
    term = Terminal([str(KIOSK), "--demo", "--no-auto", "--home", str(home)])
    try:
        yield term, home
    finally:
        term.close()


def _digest_on(screen: str) -> str:
    lines = screen.splitlines()
    start = next(i for i, line in enumerate(lines) if "Bundle digest (sha256)" in line)
    groups = " ".join(lines[start + 1 : start + 3])
    return "".join(re.findall(r"\b[0-9a-f]{4}\b", groups))


def test_demo_transfer_and_rejection_in_a_real_terminal(terminal: tuple[Terminal, Path]) -> None:
    term, home = terminal
    term.wait_for("Step 1 of 6 — Insert transfer media")
    term.wait_for("demo-release  minisign")

    term.keys("n")
    screen = term.wait_for("Step 2 of 6 — Check what the media holds")
    term.wait_for("registry.example.org/ops/hello:1.0")
    term.keys("v")
    screen = term.wait_for("✔ ACCEPTED")
    assert "valid      demo-release" in screen
    digest = _digest_on(screen)
    assert len(digest) == 64

    term.keys("a")
    term.wait_for("Approval 1 of 2")
    term.type("alice")
    term.type("alice-pin", shown="•" * len("alice-pin"))
    term.wait_for("Approval 2 of 2")
    term.type("bob")
    term.type("bob-pin", shown="•" * len("bob-pin"))
    term.type(digest[-8:])
    screen = term.wait_for("Step 6 of 6 — Imported: remove the media", timeout=30)
    assert "alice (operator), bob (verifier)" in screen

    term.keys("u")
    term.wait_for("Step 1 of 6 — Insert transfer media")
    term.keys("n")
    term.wait_for("Step 2 of 6")
    term.keys("v")
    screen = term.wait_for("✘ REJECTED")
    assert "files/transfer-request.txt does not match its checksum" in screen
    assert "Remove the media. Nothing from it will be imported." in screen
    term.keys("u")
    term.wait_for("Step 1 of 6")

    term.keys("C-q")
    deadline = time.monotonic() + 10
    while term.running() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not term.running(), "Ctrl+Q quits the demo"

    events = [json.loads(line) for line in (home / "home" / "audit.log").read_text().splitlines()]
    kinds = [event["event"] for event in events]
    assert kinds.count("import-done") == 1
    verdicts = [event["verdict"] for event in events if event["event"] == "verification"]
    assert verdicts == ["accepted", "rejected"]
