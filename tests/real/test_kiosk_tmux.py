"""End to end: `station-kiosk --demo` in a real terminal (tmux), driven with keys.

A genuine bundle goes through every step to the receipt, then the tampered one is rejected;
the screen text is read back with `capture-pane`, the audit log afterwards. A second run does
a whole transfer at 80x24 on a Linux-console terminal type with Caps Lock on: every letter
arrives in capitals, as a stuck Caps Lock sends them.
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
    """One tmux server of our own (`-L`), one window (120x40 unless told) running the kiosk."""

    def __init__(self, command: list[str], *, size: tuple[int, int] = (120, 40)) -> None:
        self.socket = f"kiosk-test-{uuid.uuid4().hex[:8]}"
        self._tmux("new-session", "-d", "-s", "kiosk", "-x", str(size[0]), "-y", str(size[1]),
                   " ".join(command))

    def _tmux(self, *args: str) -> subprocess.CompletedProcess[str]:
        # pytest sets COLUMNS/LINES for its own output; the kiosk must size to the window.
        env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True,
                              text=True, check=False, timeout=10, env=env)

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", "kiosk").stdout

    def colours(self) -> str:
        """The screen with its escape sequences (`capture-pane -e`): the colours sent."""
        return self._tmux("capture-pane", "-p", "-e", "-t", "kiosk").stdout

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

    def quit_demo(self) -> None:
        """Ctrl+Q, then wait (10 s at most) for the kiosk to be gone."""
        self.keys("C-q")
        deadline = time.monotonic() + 10
        while self.running() and time.monotonic() < deadline:
            time.sleep(0.1)

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
    term.wait_for("press V to verify")  # the bundle is read: V does something now
    term.keys("v")
    screen = term.wait_for("✘ REJECTED")
    assert "files/transfer-request.txt does not match its checksum" in screen
    assert "Remove the media. Nothing from it will be imported." in screen
    term.keys("u")
    term.wait_for("Step 1 of 6")

    term.quit_demo()
    assert not term.running(), "Ctrl+Q quits the demo"

    events = [json.loads(line) for line in (home / "home" / "audit.log").read_text().splitlines()]
    kinds = [event["event"] for event in events]
    assert kinds.count("import-done") == 1
    verdicts = [event["verdict"] for event in events if event["event"] == "verification"]
    assert verdicts == ["accepted", "rejected"]


@pytest.fixture
def console_80x24(tmp_path: Path) -> Iterator[tuple[Terminal, Path]]:
    """The demo at 80x24 as a Linux console would run it (TERM=linux: 16 colours)."""
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed (scripts/test.sh installs it)")
    home = tmp_path / "demo"
    term = Terminal(["env", "TERM=linux", str(KIOSK), "--demo", "--no-auto", "--home",
                     str(home)], size=(80, 24))
    try:
        yield term, home
    finally:
        term.close()


def _suffix_on_the_form(home: Path) -> str:
    """The last two groups of the digest on the paper form, as the second operator reads them."""
    groups = re.findall(r"\b[0-9a-f]{4}\b", (home / "transfer-request-form.txt").read_text())
    return f"{groups[-2]} {groups[-1]}"


def test_a_whole_transfer_at_80x24_typed_with_caps_lock_on(
    console_80x24: tuple[Terminal, Path],
) -> None:
    term, home = console_80x24
    term.wait_for("Step 1 of 6 — Insert transfer media")
    term.keys("N")
    term.wait_for("Step 2 of 6 — Check what the media holds")
    term.keys("V")
    screen = term.wait_for("✔ ACCEPTED")
    term.keys("A")
    term.wait_for("Approval 1 of 2")
    term.type("ALICE")
    term.type("ALICE-PIN", shown="•" * len("ALICE-PIN"))
    screen = term.wait_for("Approval 2 of 2")
    assert "✔ 1 of 2: alice (operator) approved" in screen and "left" in screen

    term.keys("Escape")  # one key never throws a transfer away
    term.wait_for("Cancel this transfer?")
    term.keys("N")
    term.wait_for("Approval 2 of 2")

    term.type("BOB")
    term.type("BOB-PIN", shown="•" * len("BOB-PIN"))
    term.type(_suffix_on_the_form(home).upper())
    screen = term.wait_for("Step 6 of 6 — Imported: remove the media", timeout=30)
    assert "▼ more below: ↓ PgDn" in screen, "the receipt says there is more"
    term.keys("End")
    screen = term.wait_for("▲ more above: ↑ PgUp")
    assert "Approved by: alice (operator), bob (verifier)" in screen
    assert "\x1b[41m" not in term.colours(), "no red background on a successful import"

    term.keys("U")
    term.wait_for("Step 1 of 6 — Insert transfer media")
    term.quit_demo()
    assert not term.running(), "Ctrl+Q quits the demo"

    events = [json.loads(line) for line in (home / "home" / "audit.log").read_text().splitlines()]
    approvals = [(e["actor"], e["order"]) for e in events if e["event"] == "approval"]
    assert approvals == [("alice", 1), ("bob", 2)]
    assert [e["event"] for e in events].count("import-done") == 1
    assert any(e["event"] == "admin-action" and e["action"] == "quit-demo" for e in events)
