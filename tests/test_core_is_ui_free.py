"""The core must never pull in the UI: the CLI and tests run it headless."""

import pkgutil
import subprocess
import sys

import station

FORBIDDEN = ("textual", "rich", "tui")


def _core_modules() -> list[str]:
    return [m.name for m in pkgutil.walk_packages(station.__path__, "station.")]


def test_every_core_module_imports_without_ui() -> None:
    modules = _core_modules()
    assert "station.cli.main" in modules
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "", f"core imported UI modules: {result.stdout}"
