"""The demo station: a temporary station home and demo media, built by the project's own code.

`station-kiosk --demo` shows a newcomer a complete transfer with nothing else installed:
a trust store holding one demo minisign key, demo operator accounts, the embedded store as
import target, a one-record vulnerability database (so the verdict shows the station's own
scan finding the demo image's outdated package), and two bundles that `DemoFeed` drops into
a watched media folder one at a time: a genuine one (a real small OCI image, an SBOM, a
file, signed) and a tampered copy (one byte of the file changed after signing). Beside them,
the transfer request form the operators would hold on paper, carrying the bundle digest the
second approver types from.
No UI here: the kiosk and the tests share it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from station.approval import OperatorStore, Role
from station.bundle import open_bundle
from station.bundle.model import ItemKind
from station.errors import UsageError
from station.publish.bundle import create_bundle
from station.publish.imagebuild import build_oci_layout, write_oci_archive
from station.publish.minisign_keys import SecretKey, generate_keypair

DEMO_CREATED = "2026-01-01T00:00:00Z"
DEMO_IMAGE = "registry.example.org/ops/hello:1.0"
DEMO_OPERATORS: tuple[tuple[str, Role, str], ...] = (
    ("alice", Role.OPERATOR, "alice-pin"),
    ("bob", Role.VERIFIER, "bob-pin"),
    ("admin", Role.ADMIN, "admin-pin"),
)
"""(name, role, PIN) of the demo accounts; printed on the demo's waiting screen."""

_CONFIG = """\
# Demo station: built by station-kiosk --demo, safe to delete.
[audit]
syslog = "off"

[approval]
expiry_seconds = 900
"""

REQUEST_FORM_NAME = "transfer-request-form.txt"

_DEMO_PACKAGE = {
    "usr/lib/python3/dist-packages/demo_greeter-1.0.dist-info/METADATA":
        b"Metadata-Version: 2.1\nName: demo-greeter\nVersion: 1.0\n",
}
"""An outdated Python package in the demo image, for the demo database's one record."""

_DEMO_RECORD = {
    "schema_version": "1.4.0",
    "id": "DEMO-2026-0001",
    "modified": DEMO_CREATED,
    "published": DEMO_CREATED,
    "summary": "demo-greeter before 1.1 greets too loudly (a made-up record for the demo)",
    "affected": [{
        "package": {"ecosystem": "PyPI", "name": "demo-greeter"},
        "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.1"}]}],
    }],
    "database_specific": {"severity": "MODERATE"},
}

_README = b"""Transfer request TR-2026-0042
Image registry.example.org/ops/hello:1.0 for the ops cluster, with its SBOM.
"""


@dataclass(frozen=True)
class DemoMedia:
    """One prepared media: its folder name (the "label") and what it demonstrates."""

    name: str
    source: Path
    description: str


@dataclass(frozen=True)
class DemoHome:
    """Where the demo lives: the station home, the watched media folder, the prepared media."""

    root: Path
    home: Path
    media_dir: Path
    media: tuple[DemoMedia, ...]

    @property
    def request_form(self) -> Path:
        """The transfer request form, as the requester would hand it to the operators."""
        return self.root / REQUEST_FORM_NAME


def build_demo_home(root: Path, *, key_seed: bytes | None = None) -> DemoHome:
    """Build everything under `root` (created if missing): home, keys, operators, bundles.

    `key_seed` derives the demo signing key from a seed instead of generating a fresh one,
    so snapshot tests see the same key fingerprint every run. Never for a real key.
    """
    if root.exists() and any(root.iterdir()):
        raise UsageError(
            f"{root} is not empty; the demo station is built in an empty folder",
            hint="choose a new folder, or leave out --home to use a temporary one",
        )
    root.mkdir(parents=True, exist_ok=True)
    home, keys, work = root / "home", root / "producer-keys", root / "build"
    for folder in (home / "trust", keys, work, root / "prepared", root / "media"):
        folder.mkdir(parents=True, exist_ok=True)
    (home / "station.toml").write_text(_CONFIG, encoding="utf-8")
    if key_seed is None:
        secret, public = generate_keypair("demo-release", keys)
    else:
        secret, public = _seeded_keypair("demo-release", keys, key_seed)
    shutil.copyfile(public, home / "trust" / public.name)
    operators = OperatorStore(home / "operators.toml")
    for name, role, pin in DEMO_OPERATORS:
        operators.add(name, role, pin)
    _install_demo_database(home, work)

    genuine = root / "prepared" / "TRANSFER-0042"
    _build_genuine(genuine, secret, work)
    tampered = root / "prepared" / "TRANSFER-0043"
    shutil.copytree(genuine, tampered)
    _flip_one_byte(tampered / "files" / "transfer-request.txt")
    (root / REQUEST_FORM_NAME).write_text(_request_form(open_bundle(genuine).digest),
                                          encoding="utf-8")
    return DemoHome(
        root=root,
        home=home,
        media_dir=root / "media",
        media=(
            DemoMedia("TRANSFER-0042", genuine, "genuine: signed, every file intact"),
            DemoMedia("TRANSFER-0043", tampered, "tampered: one byte changed after signing"),
        ),
    )


def _seeded_keypair(name: str, directory: Path, seed: bytes) -> tuple[Path, Path]:
    """A minisign key pair derived from `seed`: reproducible, hence only for tests."""
    key = SecretKey(
        key_id=hashlib.sha256(b"key-id" + seed).digest()[:8],
        private=Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"ed25519" + seed).digest()),
    )
    secret, public = directory / f"{name}.key", directory / f"{name}.pub"
    secret.write_bytes(key.to_file())
    secret.chmod(0o600)
    public.write_bytes(key.public_key.to_file())
    return secret, public


def _build_genuine(out: Path, secret_key: Path, work: Path) -> None:
    layout = work / "hello-layout"
    build_oci_layout(
        layout,
        DEMO_IMAGE,
        {"hello.txt": b"hello from the other side of the air gap\n", **_DEMO_PACKAGE},
        labels={"org.opencontainers.image.title": "hello"},
        created=DEMO_CREATED,
    )
    archive = work / "hello.oci.tar"
    write_oci_archive(layout, archive)
    readme = work / "transfer-request.txt"
    readme.write_bytes(_README)
    sbom = work / "hello.cdx.json"
    sbom.write_text(json.dumps(_sbom(), indent=2), encoding="utf-8")
    create_bundle(
        out,
        secret_key=secret_key,
        files=[readme, sbom],
        image_archives=[archive],
        name="hello-1.0",
        channel="ops",
        sequence=42,
        producer="demo build host",
        kinds={readme: ItemKind.FILE, sbom: ItemKind.SBOM},
        created=DEMO_CREATED,
    )


def _install_demo_database(home: Path, work: Path) -> None:
    """The OSV export a real station would receive in a bundle, here installed by hand."""
    from station.scan.vulndb import VulnDB

    export = work / "demo-osv.zip"
    with zipfile.ZipFile(export, "w") as archive:
        archive.writestr(f"{_DEMO_RECORD['id']}.json", json.dumps(_DEMO_RECORD))
    VulnDB(home).install(export, bundle_digest="")


def _request_form(digest: str) -> str:
    """The paper form: what is requested and the digest, in the groups the kiosk shows."""
    hexpart = digest.removeprefix("sha256:")
    groups = [hexpart[i : i + 4] for i in range(0, len(hexpart), 4)]
    return (
        "Transfer request form TR-2026-0042\n"
        "Bundle: hello-1.0 (channel ops, release 42)\n"
        f"Image: {DEMO_IMAGE}\n"
        "Bundle digest (sha256):\n"
        f"  {' '.join(groups[:8])}\n"
        f"  {' '.join(groups[8:])}\n"
    )


def _sbom() -> dict[str, object]:
    return {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "version": 1,
        "metadata": {"component": {"type": "container", "name": DEMO_IMAGE}},
        "components": [{"type": "file", "name": "hello.txt", "version": "1.0"}],
    }


def _flip_one_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[0] ^= 0x20
    path.write_bytes(bytes(data))


class DemoFeed:
    """Inserts and pulls the demo media by moving folders in and out of the media folder.

    Insertion copies the prepared bundle next to the media folder, then renames it in, so the
    folder source never sees half a copy. With `auto`, the next media goes in `delay` seconds
    after the media folder became empty (at start, and after each removal).
    """

    def __init__(self, demo: DemoHome, *, auto: bool = True, delay: float = 3.0) -> None:
        self.demo = demo
        self.auto = auto
        self.delay = delay
        self._next = 0
        self._current: Path | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        try:
            self.request_form = demo.request_form.read_text(encoding="utf-8")
        except OSError:
            self.request_form = ""

    def hint(self) -> str:
        """What the demo offers, for the waiting screen: keys, accounts, the request form."""
        accounts = ", ".join(f"{n} ({r}) PIN {p}" for n, r, p in DEMO_OPERATORS)
        auto = f"Media goes in by itself {self.delay:.0f} s after the last one left; " if (
            self.auto) else ""
        text = (f"DEMO: {auto}press N to insert the next media, U to pull it out, "
                f"Ctrl+Q to quit. Accounts: {accounts}.")
        if self.request_form:
            text += "\nThe paper the operators hold:\n" + self.request_form.rstrip("\n")
        return text

    def start(self) -> None:
        if self.auto and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="demo-feed", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            if self._stop.wait(self.delay):
                return
            with self._lock:
                empty = self._current is None
            if empty:
                self.insert_next()
            self._wake.wait()
            self._wake.clear()

    def insert_next(self) -> DemoMedia | None:
        """Put the next demo media in (none while one is in); returns what went in."""
        with self._lock:
            media = self.demo.media[self._next % len(self.demo.media)]
        if self.insert(media):
            return media
        return None

    def insert(self, media: DemoMedia) -> bool:
        """Put this demo media in, unless one is in already."""
        with self._lock:
            if self._current is not None:
                return False
            if media in self.demo.media:
                self._next = self.demo.media.index(media) + 1
            staging = self.demo.root / f".inserting-{media.name}"
            shutil.rmtree(staging, ignore_errors=True)
            shutil.copytree(media.source, staging)
            target = self.demo.media_dir / media.name
            os.rename(staging, target)
            self._current = target
            return True

    def remove_current(self) -> bool:
        """Pull the media out: it disappears at once (rename), then is deleted."""
        with self._lock:
            current, self._current = self._current, None
        if current is None:
            return False
        gone = self.demo.root / f".removed-{current.name}-{time.monotonic_ns()}"
        os.rename(current, gone)
        shutil.rmtree(gone, ignore_errors=True)
        self._wake.set()
        return True
