"""Push into an OCI registry (the site's local mirror) with skopeo.

skopeo is Debian's well-kept registry client: it speaks the distribution protocol with
retries and skips blobs the registry already has, so no hand-written protocol code sits
between verified bytes and the mirror. It reads each image from a `dir:` folder the station
makes of hard links to the staged blobs (no copy) and the staged manifest, and pushes with
`--preserve-digests`: the registry receives exactly the verified (or station-written)
manifest, never a conversion. TLS is verified unless the config marks the registry insecure
or it is plain http on loopback; a CA file and credentials come from `[targets.registry]`.
Credentials go to skopeo in a private auth file, never on its command line. After each push
the manifest is read back and must be byte for byte the staged one.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import os
import shutil
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

import requests

from station.bundle.model import Descriptor
from station.bundle.oci_json import OCI_MANIFEST
from station.config import RegistryTargetSection
from station.errors import StationError
from station.importing.base import (
    ImageReceipt,
    ImportFailed,
    ImportPlan,
    ProgressMeter,
    Receipt,
    StepCallback,
    image_title,
)
from station.importing.references import RetagRule, repository_path, retag, split_reference
from station.importing.runner import make_plan, run_plan
from station.importing.skopeo import BytesRead, run_skopeo, work_folder
from station.progress import ProgressCallback
from station.verify.staged import StagedBundle, StagedImage

DIR_VERSION = b"Directory Transport Version: 1.1\n"


@dataclass(frozen=True)
class RegistrySettings:
    """Where and how to reach the registry, from the URL and `[targets.registry]`."""

    host: str  # host[:port]
    prefix: str  # repository path prefix, "" or "mirror/"
    tls: bool
    insecure: bool = False
    ca_file: Path | None = None
    username: str | None = None
    password_file: Path | None = None

    @classmethod
    def from_config(cls, url: str, section: RegistryTargetSection) -> RegistrySettings:
        """Parse `http[s]://HOST[:PORT][/PREFIX]`; TLS and login keys from `[targets.registry]`
        (typed and checked at start-up: `insecure` is a real boolean)."""
        parts = urlsplit(url if "://" in url else f"https://{url}")
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
            raise StationError(
                f"{url!r} is not a registry URL",
                hint="write it as https://HOST[:PORT] (or http:// for a loopback registry)",
            )
        insecure = section.insecure
        tls = parts.scheme == "https"
        if not tls and not insecure and not _is_loopback(parts.hostname or ""):
            raise StationError(
                f"the registry {url} is plain http on a network address",
                hint="use https with ca_file, or set insecure = true in [targets.registry]",
            )
        prefix = parts.path.strip("/")
        return cls(
            host=parts.netloc,
            prefix=f"{prefix}/" if prefix else "",
            tls=tls,
            insecure=insecure,
            ca_file=Path(section.ca_file) if section.ca_file else None,
            username=section.username,
            password_file=Path(section.password_file) if section.password_file else None,
        )

    @property
    def verify_tls(self) -> bool:
        return self.tls and not self.insecure

    def destination(self, reference: str) -> str | None:
        """`HOST/PREFIX/REPO:TAG` for a normalised reference, or None for a digest-only one."""
        _, tag = split_reference(reference)
        if tag is None:
            return None
        return f"{self.host}/{self.prefix}{repository_path(reference)}:{tag}"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class RegistryTarget:
    """Push every image with all its names to one registry."""

    name = "registry"
    keeps_staged_blobs = False

    def __init__(
        self,
        settings: RegistrySettings,
        *,
        work_dir: Path,
        home: Path,
        retag_rules: tuple[RetagRule, ...] = (),
    ) -> None:
        self.settings = settings
        self.work_dir = work_dir
        self.home = home
        self.retag_rules = retag_rules
        self._staged: StagedBundle | None = None
        self._by_digest: set[str] = set()  # artifacts pushed by digest, not by tag

    def describe(self) -> str:
        scheme = "https" if self.settings.tls else "http"
        return f"the registry {scheme}://{self.settings.host}/{self.settings.prefix}"

    def _access_args(self, folder: Path, direction: str) -> list[str]:
        """TLS, CA and login flags for skopeo; `direction` is "dest-" for copy, "" for inspect."""
        args = [f"--{direction}tls-verify={'true' if self.settings.verify_tls else 'false'}"]
        if self.settings.ca_file is not None:
            certs = folder / "certs"
            certs.mkdir(exist_ok=True)
            try:
                shutil.copyfile(self.settings.ca_file, certs / "ca.crt")
            except OSError as exc:
                raise ImportFailed(
                    f"cannot read the registry CA file {self.settings.ca_file}: {exc.strerror}"
                ) from exc
            args.append(f"--{direction}cert-dir={certs}")
        if self.settings.username is not None and self.settings.password_file is not None:
            args.append(f"--{direction}authfile={self._authfile(folder)}")
        return args

    def _authfile(self, folder: Path) -> Path:
        assert self.settings.password_file is not None  # noqa: S101
        try:
            password = self.settings.password_file.read_text(encoding="utf-8").rstrip("\n")
        except OSError as exc:
            raise ImportFailed(
                f"cannot read the registry password file {self.settings.password_file}: "
                f"{exc.strerror}"
            ) from exc
        token = base64.b64encode(f"{self.settings.username}:{password}".encode()).decode()
        path = folder / "auth.json"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump({"auths": {self.settings.host: {"auth": token}}}, out)
        return path

    def _inspect_raw(self, name: str, folder: Path, cancel: threading.Event | None) -> bytes:
        args = ["inspect", "--raw", "--retry-times=2", *self._access_args(folder, "")]
        out = run_skopeo(
            [*args, f"docker://{name}"],
            what=f"reading {name} back from the registry",
            cancel=cancel,
            hint="check that the registry is running and reachable, then import again",
        )
        return out.encode()

    def check(self) -> str | None:
        scheme = "https" if self.settings.tls else "http"
        verify: bool | str = self.settings.verify_tls
        if verify and self.settings.ca_file is not None:
            verify = str(self.settings.ca_file)
        try:
            answer = requests.get(f"{scheme}://{self.settings.host}/v2/", timeout=10,
                                  verify=verify)
        except requests.RequestException as exc:
            return f"the registry {self.settings.host} does not answer ({type(exc).__name__})"
        if answer.status_code not in (200, 401):
            return f"{self.settings.host} answered {answer.status_code}: not a registry"
        return None

    def plan(self, staged: StagedBundle) -> ImportPlan:
        reason = self.check()
        if reason is not None:
            raise ImportFailed(reason, hint="start the registry or check its URL, then retry")
        pushable = tuple(entry if not entry.is_index else self._referrer(staged, entry)
                         for entry in staged.signatures)
        return make_plan(self.name, replace(staged, signatures=pushable), self.home,
                         self._describe, signatures=True)

    def _referrer(self, staged: StagedBundle, entry: StagedImage) -> StagedImage:
        """The Sigstore bundle a referrers index lists, to be pushed by its digest.

        An OCI 1.1 registry finds it through its `subject` (the referrers API). The index the
        station keeps under the fallback tag `sha256-<hex>` is not pushed: Debian's skopeo 1.9
        refuses to copy an index with `--preserve-digests`, and a rewritten one would not be
        the verified bytes.
        """
        artifact = entry.blobs[1]
        size = staged.blob_path(artifact).stat().st_size
        self._by_digest.add(artifact)
        return replace(entry, descriptor=Descriptor(OCI_MANIFEST, artifact, size),
                       blobs=entry.blobs[1:])

    def _describe(self, image: StagedImage) -> str:
        names = self._destinations(image)
        if not names:
            raise ImportFailed(
                f"{image.item}: image {image.descriptor.digest} has no name to push",
                hint="a registry stores images by name; ask the sender to tag it",
            )
        return f"Push {image_title(image)} to {', '.join(names)}"

    def _destinations(self, image: StagedImage) -> list[str]:
        names = []
        for reference in image.references:
            name = self.settings.destination(retag(reference, self.retag_rules))
            if name is not None and image.descriptor.digest in self._by_digest:
                name = f"{name.rsplit(':', 1)[0]}@{image.descriptor.digest}"
            if name is not None and name not in names:
                names.append(name)
        return names

    def run(
        self,
        plan: ImportPlan,
        *,
        on_progress: ProgressCallback | None = None,
        on_step: StepCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> Receipt:
        self._staged = plan.staged
        return run_plan(
            plan, self.home, self._import_one, on_progress=on_progress, on_step=on_step,
            cancel=cancel,
        )

    def _import_one(
        self, image: StagedImage, meter: ProgressMeter, cancel: threading.Event | None
    ) -> tuple[ImageReceipt, str]:
        follow = BytesRead(meter, image.total_size)  # skopeo prints no byte counts
        result = self._push(image, follow, cancel)
        follow.finish()
        return result

    def _push(self, image: StagedImage, follow: BytesRead, cancel: threading.Event | None
              ) -> tuple[ImageReceipt, str]:
        staged = self._staged
        assert staged is not None  # noqa: S101 - run() sets it
        names = self._destinations(image)
        digest = image.descriptor.digest
        pushed = 0
        self.work_dir.mkdir(parents=True, exist_ok=True)
        with work_folder(self.work_dir) as folder:
            source: str | None = None
            for name in names:
                if self._present(name, folder, cancel) == digest:
                    continue
                if source is None:
                    source = self._dir_form(staged, image, folder / "image")
                self._copy(source, name, folder, image.is_index, follow, cancel)
                pushed += 1
                self._check_pushed(name, digest, folder, cancel)
        receipt = ImageReceipt(
            references=tuple(names),
            manifest_digest=digest,
            config_digest=image.images[0].config_digest if len(image.images) == 1 else "",
            where=f"registry:{self.settings.host}",
            bytes_copied=image.total_size if pushed else 0,
        )
        return receipt, "pushed" if pushed else "already in the registry"

    @staticmethod
    def _dir_form(staged: StagedBundle, image: StagedImage, folder: Path) -> str:
        """skopeo's `dir:` layout of hard links to the staged blobs (the same inodes)."""
        folder.mkdir()
        manifests = image.manifests
        top = image.descriptor.digest
        for digest in image.blobs:
            hexdigest = digest.removeprefix("sha256:")
            if digest == top:
                name = "manifest.json"
            elif image.is_index and digest in manifests:
                name = f"{hexdigest}.manifest.json"
            else:
                name = hexdigest
            _link_or_copy(staged.blob_path(digest), folder / name)
        (folder / "version").write_bytes(DIR_VERSION)
        return f"dir:{folder}"

    def _copy(self, source: str, name: str, folder: Path, every: bool, follow: BytesRead,
              cancel: threading.Event | None) -> None:
        args = ["copy", "--quiet", "--retry-times=2", "--preserve-digests"]
        if every:
            args.append("--all")
        args += self._access_args(folder, "dest-")
        run_skopeo(
            [*args, source, f"docker://{name}"],
            what=f"pushing to {name}",
            cancel=cancel,
            follow=follow,
            hint="check that the registry is running, reachable and has space, then import "
            "again; images already pushed are not sent again",
        )

    def _present(self, name: str, folder: Path, cancel: threading.Event | None) -> str | None:
        """The digest of the manifest `name` points at in the registry, if it exists."""
        try:
            raw = self._inspect_raw(name, folder, cancel)
        except ImportFailed as exc:
            if "manifest unknown" in exc.message or "not found" in exc.message:
                return None
            raise
        return "sha256:" + hashlib.sha256(raw).hexdigest()

    def _check_pushed(self, name: str, digest: str, folder: Path,
                      cancel: threading.Event | None) -> None:
        repository = name.split("@", 1)[0] if "@" in name else name.rsplit(":", 1)[0]
        found = self._present(name, folder, cancel)
        by_digest = self._inspect_raw(f"{repository}@{digest}", folder, cancel)
        actual = "sha256:" + hashlib.sha256(by_digest).hexdigest()
        if actual != digest or found != digest:
            raise ImportFailed(
                f"the registry holds {name} as {found}, not the verified {digest}",
                hint="report this; do not use the image from the registry",
            )


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
