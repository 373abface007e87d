"""The receiving side holds no signing code: verify, import and the kiosk never load it.

Bundle creation, key generation and the image builder live in `station.publish` (the
connected side). A station compromised through its verify path then finds nothing there
that could sign a bundle.
"""

import subprocess
import sys

RECEIVING = (
    "station.station",
    "station.workflow",
    "station.verify.verification",
    "station.importing",
    "station.cli.verify",
    "station.cli.inspect",
    "station.cli.importing",
    "tui.app",
    "tui.main",
)


def test_the_verify_and_import_path_never_imports_signing_code() -> None:
    code = (
        "import importlib, sys\n"
        f"for name in {RECEIVING!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m.startswith('station.publish'))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "", f"the receiving side imported: {result.stdout}"


def test_the_verify_module_for_minisign_cannot_sign() -> None:
    from station.verify import minisign

    assert not hasattr(minisign, "sign")
    assert not hasattr(minisign, "SecretKey")
    assert not hasattr(minisign, "generate_keypair")
