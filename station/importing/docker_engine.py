"""Import into a Docker engine through the `docker` SDK: load, check the ID, then tag.

Each image is streamed to the engine's load endpoint as a docker-archive the station writes
from the verified blobs (`docker_archive_stream`): no tags in it, no second copy on disk, no
byte from the media's own archive. After the load, the image the engine holds under the
verified config digest must have exactly that ID, and only then is it tagged as the bundle
says (after the optional retag rules). An image the engine already holds is not loaded
again, so a retry redoes only what did not finish. Of a multi-platform image, the platform
of the engine is loaded.

The load request alone is written by hand on the engine's socket, with the archive's exact
length, so staged blobs go with `sendfile`: through the SDK every byte would be copied by
requests' chunked encoding, and the load ran 11-14 % slower than `docker load`. Everything
else (ping, version, images, tags) goes through the SDK.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import docker
import docker.errors
import docker.utils
import requests
import urllib3.exceptions

from station.bundle.model import ImageInfo
from station.importing.base import (
    ImageReceipt,
    ImportFailed,
    ImportPlan,
    ProgressMeter,
    Receipt,
    StepCallback,
    image_title,
)
from station.importing.docker_archive_stream import CanonicalArchive
from station.importing.references import RetagRule, retag, split_reference
from station.importing.runner import make_plan, run_plan
from station.progress import ProgressCallback
from station.verify.staged import StagedBundle, StagedImage

DEFAULT_SOCKET = "unix:///var/run/docker.sock"
# Everything a connection to the engine can end in, whichever layer raises it: the SDK,
# requests, urllib3 while a reply is streamed (the engine killed mid-load), the socket.
CONNECTION_ERRORS = (
    docker.errors.DockerException, requests.RequestException, urllib3.exceptions.HTTPError,
    ConnectionError, OSError,
)
LOAD_TIMEOUT = 3600


class _UnixConnection(http.client.HTTPConnection):
    """HTTP over the engine's unix socket."""

    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.path)
        self.sock = sock


def _connection(base_url: str) -> http.client.HTTPConnection:
    """A plain connection to the engine at `base_url` (unix:// or tcp://, as the SDK reads
    them): the load request is sent on it by hand, so blobs can go with sendfile."""
    url = urlsplit(docker.utils.parse_host(base_url))
    if url.scheme == "http+unix":
        return _UnixConnection(url.path, LOAD_TIMEOUT)
    if url.scheme == "http" and url.hostname:
        return http.client.HTTPConnection(url.hostname, url.port or 2375, timeout=LOAD_TIMEOUT)
    raise ImportFailed(
        f"the Docker engine at {base_url} is not on a unix socket or plain tcp",
        hint="give the engine's socket as unix:///PATH (or tcp://HOST:PORT on loopback)",
    )


class DockerEngineTarget:
    """Load images into the Docker engine at `base_url` (a unix socket by default)."""

    name = "docker"
    keeps_staged_blobs = False

    def __init__(
        self,
        base_url: str,
        *,
        work_dir: Path,
        home: Path,
        retag_rules: tuple[RetagRule, ...] = (),
    ) -> None:
        self.base_url = base_url
        self.work_dir = work_dir
        self.home = home
        self.retag_rules = retag_rules
        self._client: docker.DockerClient | None = None
        self._staged: StagedBundle | None = None

    def describe(self) -> str:
        return f"the Docker engine at {self.base_url}"

    def client(self) -> docker.DockerClient:
        if self._client is None:
            try:
                self._client = docker.DockerClient(
                    base_url=self.base_url, timeout=LOAD_TIMEOUT, version="auto"
                )
            except docker.errors.DockerException as exc:
                raise self._unreachable(exc) from exc
        return self._client

    def _unreachable(self, exc: BaseException) -> ImportFailed:
        return ImportFailed(
            f"the Docker engine at {self.base_url} does not answer ({_short(exc)})",
            hint="start the engine (systemctl start docker) or check the socket, "
            "then import again: what the engine already loaded is checked and kept, "
            "and only the rest is loaded",
        )

    def check(self) -> str | None:
        try:
            self.client().ping()
        except ImportFailed as exc:
            return exc.message
        except CONNECTION_ERRORS as exc:
            return f"the Docker engine at {self.base_url} does not answer ({_short(exc)})"
        return None

    def plan(self, staged: StagedBundle) -> ImportPlan:
        reason = self.check()
        if reason is not None:
            raise ImportFailed(reason, hint="start the engine or check the socket, then retry")
        return make_plan(
            self.name,
            staged,
            self.home,
            lambda image: f"Load {image_title(image)} into the Docker engine",
        )

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

    def _platform(self) -> tuple[str, str]:
        try:
            version = self.client().version()
        except CONNECTION_ERRORS as exc:
            raise self._unreachable(exc) from exc
        return str(version.get("Os", "linux")), str(version.get("Arch", "amd64"))

    def _choose(self, image: StagedImage) -> ImageInfo:
        """The one image to load: the only one, or the engine's platform of several."""
        if len(image.images) == 1:
            return image.images[0]
        os_name, arch = self._platform()
        for candidate in image.images:
            if candidate.platform.split("/")[:2] == [os_name, arch]:
                return candidate
        offered = ", ".join(candidate.platform for candidate in image.images)
        raise ImportFailed(
            f"{image_title(image)} has no image for the engine's platform {os_name}/{arch} "
            f"(it has {offered})",
            hint="choose the store or a registry as the target for this bundle",
        )

    def _import_one(
        self, image: StagedImage, meter: ProgressMeter, cancel: threading.Event | None
    ) -> tuple[ImageReceipt, str]:
        staged = self._staged
        assert staged is not None  # noqa: S101 - run() sets it
        chosen = self._choose(image)
        detail = "already in the engine"
        if self._engine_image(chosen.config_digest) is None:
            detail = "loaded"
            self._load(chosen, staged.layout / "blobs" / "sha256", meter, cancel)
        else:
            meter(image.total_size)
        engine_image = self._engine_image(chosen.config_digest)
        if engine_image is None or engine_image.id != chosen.config_digest:
            found = engine_image.id if engine_image is not None else "nothing"
            raise ImportFailed(
                f"after loading, the engine holds {found} where {chosen.config_digest} "
                "was verified; no tag was set",
                hint="report this; do not use the image in the engine",
            )
        references = tuple(retag(ref, self.retag_rules) for ref in image.references)
        self._tag(engine_image, references)
        receipt = ImageReceipt(
            references=references,
            manifest_digest=chosen.manifest_digest,
            config_digest=chosen.config_digest,
            where=f"docker:{self.base_url}",
            bytes_copied=chosen.total_size if detail == "loaded" else 0,
        )
        return receipt, detail

    def _engine_image(self, config_digest: str) -> Any:
        try:
            return self.client().images.get(config_digest)
        except docker.errors.ImageNotFound:
            return None
        except CONNECTION_ERRORS as exc:
            raise self._unreachable(exc) from exc

    def _load(
        self, image: ImageInfo, blobs: Path, meter: ProgressMeter, cancel: threading.Event | None
    ) -> None:
        """Send the station's docker-archive of `image`; check every reply item."""
        archive = CanonicalArchive(image, blobs)
        connection = _connection(self.base_url)
        try:
            replies = self._post(connection, archive, meter, cancel)
        except (OSError, http.client.HTTPException) as exc:
            raise self._unreachable(exc) from exc
        finally:
            connection.close()
        for reply in replies:
            error = reply.get("error") or reply.get("errorDetail", {}).get("message")
            if error:
                raise ImportFailed(
                    f"the Docker engine refused {image_title_of(image)}: {error}",
                    hint="check the engine's log and free space, then import again",
                )

    def _post(self, connection: http.client.HTTPConnection, archive: CanonicalArchive,
              meter: ProgressMeter, cancel: threading.Event | None) -> list[dict[str, Any]]:
        """POST the archive to the load endpoint; the engine's reply items.

        An engine that refuses early closes while the archive is still being sent: its own
        words, when it had the time to give them, are read before anything is concluded.
        """
        version = self.client().api.api_version
        connection.putrequest("POST", f"/v{version}/images/load?quiet=1",
                              skip_accept_encoding=True)
        connection.putheader("Content-Type", "application/x-tar")
        connection.putheader("Content-Length", str(archive.length))
        connection.endheaders()
        assert connection.sock is not None  # noqa: S101 - endheaders() connected it
        try:
            archive.send(connection.sock, meter, cancel)
        except (BrokenPipeError, ConnectionResetError) as cut:
            try:
                answer = connection.getresponse()
            except (OSError, http.client.HTTPException):
                raise cut from None
            return _replies(answer)
        return _replies(connection.getresponse())

    def _tag(self, engine_image: Any, references: tuple[str, ...]) -> None:
        """Tag the verified image with each reference (after the retag rules)."""
        try:
            for reference in references:
                repository, tag = split_reference(reference)
                if tag is None:
                    continue
                if not engine_image.tag(repository, tag):
                    raise ImportFailed(f"the Docker engine did not tag {reference}")
        except docker.errors.APIError as exc:
            raise ImportFailed(
                f"the Docker engine could not tag the image: {exc.explanation or exc}",
                hint="import again; the image is loaded and verified, only tags are missing",
            ) from exc
        except CONNECTION_ERRORS as exc:
            raise self._unreachable(exc) from exc


def _replies(answer: http.client.HTTPResponse) -> list[dict[str, Any]]:
    """The engine's JSON reply items (one object per line), or its error message as one."""
    body = answer.read().decode("utf-8", "replace")
    items: list[dict[str, Any]] = []
    for line in body.splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            item = {"error": line.strip()[:200]}
        if isinstance(item, dict) and (item or answer.status == 200):
            items.append(item)
    if answer.status != 200:
        message = next((str(item.get("message", "")) for item in items), "") or answer.reason
        items = [{"error": f"{answer.status} {message}"}]
    return items


def image_title_of(image: ImageInfo) -> str:
    return image.references[0] if image.references else image.config_digest[:19]


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
