"""Import into a Docker engine through the `docker` SDK: load, check the ID, then tag.

A staged docker-archive is streamed to the engine's load endpoint without its tags (see
`untagged.py`; no second copy on disk); an OCI-shaped image is first turned into a
docker-archive in the station's work folder, because Docker 20.10 cannot load OCI archives.
After the load, the image the engine holds under the verified config digest must have exactly
that ID, and only then is it tagged as the bundle says (after the optional retag rules). An
image the engine already holds is not loaded again, so a retry redoes only what did not finish.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import IO, Any

import docker
import docker.errors
import requests

from station.importing.base import (
    ImageReceipt,
    ImportFailed,
    ImportPlan,
    ProgressMeter,
    Receipt,
    StagedBundle,
    StepCallback,
    image_references,
    image_title,
    require_free_space,
)
from station.importing.convert import one_image_layout, to_docker_archive, work_folder
from station.importing.layout import BytesCallback
from station.importing.references import RetagRule, retag, split_reference
from station.importing.runner import make_plan, run_plan
from station.importing.sources import SourceImage, source_images
from station.importing.untagged import CHUNK, UntaggedArchive
from station.progress import ProgressCallback, check_cancel

DEFAULT_SOCKET = "unix:///var/run/docker.sock"
LOAD_TIMEOUT = 3600


class _CountingReader:
    """The stream the SDK sends to the engine, counting bytes and honouring a stop request.

    It has no length, so the request is sent chunked: the untagged stream's size is not known.
    """

    def __init__(
        self, stream: IO[bytes], meter: BytesCallback, cancel: threading.Event | None
    ) -> None:
        self.stream = stream
        self.meter = meter
        self.cancel = cancel

    def read(self, count: int = -1) -> bytes:
        check_cancel(self.cancel, "import stopped")
        data = self.stream.read(max(count, CHUNK))
        self.meter(len(data))
        return data


class DockerEngineTarget:
    """Load images into the Docker engine at `base_url` (a unix socket by default)."""

    name = "docker"

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
        self._loaded_archives: set[Path] = set()  # archives loaded whole during this run

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

    def _unreachable(self, exc: Exception) -> ImportFailed:
        return ImportFailed(
            f"the Docker engine at {self.base_url} does not answer ({_short(exc)})",
            hint="start the engine (systemctl start docker) or check the socket, "
            "then import again; images already loaded are kept",
        )

    def check(self) -> str | None:
        try:
            self.client().ping()
        except ImportFailed as exc:
            return exc.message
        except (docker.errors.DockerException, requests.RequestException) as exc:
            return f"the Docker engine at {self.base_url} does not answer ({_short(exc)})"
        return None

    def plan(self, staged: StagedBundle) -> ImportPlan:
        reason = self.check()
        if reason is not None:
            raise ImportFailed(reason, hint="start the engine or check the socket, then retry")
        plan = make_plan(
            self.name,
            staged,
            self.home,
            lambda s: f"Load {image_title(s.image)} into the Docker engine",
        )
        convert = max(
            (3 * s.image.total_size for s in source_images(staged) if not s.is_legacy), default=0
        )
        require_free_space(self.work_dir, convert, "converting OCI images for the engine")
        return plan

    def run(
        self,
        plan: ImportPlan,
        *,
        on_progress: ProgressCallback | None = None,
        on_step: StepCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> Receipt:
        self._loaded_archives = set()
        return run_plan(
            plan, self.home, self._import_one, on_progress=on_progress, on_step=on_step,
            cancel=cancel,
        )

    def _import_one(
        self, source: SourceImage, meter: ProgressMeter, cancel: threading.Event | None
    ) -> tuple[ImageReceipt, str]:
        loaded_archives = self._loaded_archives
        image = source.image
        detail = "already in the engine"
        if self._engine_image(image.config_digest) is None:
            detail = "loaded"
            if source.is_legacy:
                if source.path not in loaded_archives:
                    self._load(source.path, meter, cancel)
                    loaded_archives.add(source.path)
            else:
                with work_folder(self.work_dir) as folder:
                    name = one_image_layout(source, folder / "layout", cancel=cancel)
                    check_cancel(cancel, "import stopped")
                    tar_path = folder / "image.tar"
                    to_docker_archive(name, tar_path, None, cancel)
                    self._load(tar_path, meter, cancel, count=False)
                meter(image.total_size)
        elif source.is_legacy and source.path not in loaded_archives:
            meter(image.total_size)
        engine_image = self._engine_image(image.config_digest)
        if engine_image is None or engine_image.id != image.config_digest:
            found = engine_image.id if engine_image is not None else "nothing"
            raise ImportFailed(
                f"after loading, the engine holds {found} where {image.config_digest} "
                "was verified; no tag was set",
                hint="report this; do not use the image in the engine",
            )
        references = tuple(
            retag(ref, self.retag_rules) for ref in image_references(source.item, image)
        )
        self._tag(engine_image, references)
        receipt = ImageReceipt(
            references=references,
            manifest_digest=image.manifest_digest,
            config_digest=image.config_digest,
            where=f"docker:{self.base_url}",
            bytes_copied=image.total_size if detail == "loaded" else 0,
        )
        return receipt, detail

    def _engine_image(self, config_digest: str) -> Any:
        try:
            return self.client().images.get(config_digest)
        except docker.errors.ImageNotFound:
            return None
        except (docker.errors.DockerException, requests.RequestException) as exc:
            raise self._unreachable(exc) from exc

    def _load(
        self,
        archive: Path,
        meter: ProgressMeter,
        cancel: threading.Event | None,
        *,
        count: bool = True,
    ) -> None:
        """Stream one docker-archive, without its tags, to the engine; check every reply item."""
        counter: BytesCallback = meter if count else _ignore
        try:
            with UntaggedArchive(archive) as stream:
                reader = _CountingReader(stream, counter, cancel)
                for chunk in self.client().api.load_image(  # type: ignore[no-untyped-call]
                    reader, quiet=True
                ):
                    error = chunk.get("error") or chunk.get("errorDetail", {}).get("message")
                    if error:
                        raise ImportFailed(
                            f"the Docker engine refused {archive.name}: {error}",
                            hint="check the engine's log and free space, then import again",
                        )
        except docker.errors.APIError as exc:
            raise ImportFailed(
                f"the Docker engine refused {archive.name}: {exc.explanation or exc}",
                hint="check the engine's log and free space, then import again",
            ) from exc
        except (docker.errors.DockerException, requests.RequestException) as exc:
            raise self._unreachable(exc) from exc

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
        except (docker.errors.DockerException, requests.RequestException) as exc:
            raise self._unreachable(exc) from exc


def _ignore(count: int) -> None:
    """Bytes of a converted work copy: progress is counted per image instead."""


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
