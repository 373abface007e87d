"""Image references parsed with the distribution grammar and normalised as docker does.

`alpine:3`, `docker.io/alpine:3`, `index.docker.io/library/alpine:3` and
`docker.io/library/alpine:3` name one image; the station shows, checks and tags only the
normalised form (`docker.io/library/alpine:3`), so a policy prefix cannot be bypassed by
writing the same name another way. The grammar is distribution/reference's (the library
docker, containerd and skopeo use): lowercase path components joined by `.`, `_`, `__` or
dashes, an optional `host[:port]/` (a first component is a host when it holds `.` or `:`, is
`localhost`, or has an uppercase letter), a tag of at most 128 word characters, dots and
dashes, an optional `@sha256:<64 hex>`. Anything else (`UPPER/Case:tag`, `a:b:c`, `../x`) is
refused by `parse_reference`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from station.errors import StationError

DEFAULT_DOMAIN = "docker.io"
LEGACY_DOMAIN = "index.docker.io"
OFFICIAL_PREFIX = "library/"
DEFAULT_TAG = "latest"
MAX_NAME_LENGTH = 255

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_NAME = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*"
_HOST = rf"(?:{_DOMAIN_NAME}|\[[a-fA-F0-9:]+\])"
_DOMAIN = rf"{_HOST}(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"sha256:[0-9a-f]{64}"

_REFERENCE = re.compile(
    rf"(?P<name>(?:(?P<domain>{_DOMAIN})/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)"
    rf"(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?",
    re.ASCII,
)
_PATH = re.compile(rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*", re.ASCII)
_TAG_ONLY = re.compile(_TAG, re.ASCII)
_HEX64 = re.compile(r"[0-9a-f]{64}")


class ReferenceError(StationError):
    """A string that is not a valid image reference."""


@dataclass(frozen=True)
class Reference:
    """A normalised reference: `domain/path:tag` with an optional `@digest`."""

    domain: str
    path: str
    tag: str | None
    digest: str | None = None

    @property
    def repository(self) -> str:
        """`domain/path`, the name without tag or digest."""
        return f"{self.domain}/{self.path}"

    def __str__(self) -> str:
        text = self.repository
        if self.tag is not None:
            text += f":{self.tag}"
        if self.digest is not None:
            text += f"@{self.digest}"
        return text


def _split_domain(name: str) -> tuple[str, str]:
    """docker's rule for telling a registry host from the first path component."""
    first, slash, rest = name.partition("/")
    if not slash or (
        not any(c in first for c in ".:") and first != "localhost" and first.lower() == first
    ):
        domain, remainder = DEFAULT_DOMAIN, name
    else:
        domain, remainder = first, rest
    if domain == LEGACY_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = OFFICIAL_PREFIX + remainder
    return domain, remainder


def parse_reference(text: str, *, default_tag: bool = True) -> Reference:
    """Parse and normalise `text`; a name without tag or digest gets `:latest` by default."""
    shown = text if text.isprintable() and len(text) <= 300 else repr(text[:300])
    match = _REFERENCE.fullmatch(text)
    if match is None:
        raise ReferenceError(
            f"{shown!r} is not a valid image reference",
            hint="names are lowercase, like registry.example.org/team/app:1.2",
        )
    domain, path = _split_domain(match["name"])
    if len(domain) + 1 + len(path) > MAX_NAME_LENGTH:
        # Counted once normalised, as docker does: `docker.io/library/` counts too.
        raise ReferenceError(f"the image name in {shown!r} is longer than {MAX_NAME_LENGTH} "
                             "characters once written in full")
    if path.lower() != path:
        raise ReferenceError(f"{shown!r}: the repository name must be lowercase")
    if _PATH.fullmatch(path) is None:
        # `[2]/x` fits the grammar with `[2]` as a host, but docker's split makes it a path
        # component of docker.io, where it is invalid: docker refuses it, so must we.
        raise ReferenceError(f"{shown!r} is not a valid image reference: "
                             f"{path.split('/', 1)[0]!r} is neither a registry host nor a "
                             "repository name")
    if _HEX64.fullmatch(path.removeprefix(OFFICIAL_PREFIX)):
        raise ReferenceError(f"{shown!r}: a repository name cannot be a 64-hex image ID")
    tag = match["tag"]
    digest = match["digest"]
    if tag is None and digest is None and default_tag:
        tag = DEFAULT_TAG
    return Reference(domain, path, tag, digest)


def normalise(text: str) -> str:
    """The normalised string form of a reference (see the module docstring)."""
    return str(parse_reference(text))


def is_tag(text: str) -> bool:
    """Whether `text` is a bare tag (`1.2`, `latest`): no repository, no `/` or `:`."""
    return _TAG_ONLY.fullmatch(text) is not None


def normalise_prefix(prefix: str) -> str:
    """A policy prefix written the way references are shown, so both compare alike.

    `demo/` becomes `docker.io/demo/`, `alpine` becomes `docker.io/library/alpine`, and a
    prefix naming its registry (`registry.example.org/ops/`) is kept. Write a namespace with
    its trailing `/`.
    """
    first, slash, _rest = prefix.partition("/")
    names_host = any(c in first for c in ".:") or first == "localhost" or first.lower() != first
    if names_host and slash:
        return DEFAULT_DOMAIN + prefix[len(first):] if first == LEGACY_DOMAIN else prefix
    if names_host:
        return prefix
    if not slash:
        return f"{DEFAULT_DOMAIN}/{OFFICIAL_PREFIX}{prefix}"
    return f"{DEFAULT_DOMAIN}/{prefix}"
