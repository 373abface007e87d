"""skopeo's `dir:` folders (`skopeo copy … dir:D`, `podman save --format docker-dir`), read as
an OCI layout.

The format (containers/image `directory` transport, versions 1.0 and 1.1): `version` holds
`Directory Transport Version: 1.x`, `manifest.json` is the image's manifest (or, with
`--all`, an image index whose instance manifests are `<hex>.manifest.json`), and every
other blob is a file named by its bare hex digest. `signature-N` files hold containers/image
signatures, which the station does not read (they are noted, never imported).

The station reads such a folder through the same OCI walk as every layout: this module only
says which file holds the blob `blobs/sha256/<hex>` and gives the walk the `index.json`
the folder lacks, naming `manifest.json` by its digest. Nothing is guessed from names: every
small blob is checked against its digest by the walk, and on the verification side every
file must hash to the digest its name claims before it is used as that blob.
"""

from __future__ import annotations

import json
import re

from station.bundle.members import Blob, ByteBudget, Members
from station.bundle.oci_json import (
    OCI_INDEX,
    OCI_MANIFEST,
    JsonSource,
    fail,
    load_object,
    sha256_digest,
    value,
)
from station.bundle.safety import describe_name
from station.config import Limits

VERSION_FILE = "version"
MANIFEST_FILE = "manifest.json"
VERSIONS = (b"Directory Transport Version: 1.0\n", b"Directory Transport Version: 1.1\n")
_BLOB = re.compile(r"([0-9a-f]{64})(\.manifest\.json)?")
_SIGNATURE = re.compile(r"signature-[1-9][0-9]*")
_OCI_LAYOUT = b'{"imageLayoutVersion":"1.0.0"}'


def is_skopeo_dir(names: set[str] | frozenset[str]) -> bool:
    """Whether a folder's file names are a `dir:` folder (and not an OCI layout)."""
    return MANIFEST_FILE in names and VERSION_FILE in names and "oci-layout" not in names


def _top_media_type(label: str, manifest: bytes) -> str:
    """What `manifest.json` is: the type it declares, else by its shape (OCI may omit it)."""
    document = load_object(label, manifest, MANIFEST_FILE)
    declared = value(label, document, "mediaType", MANIFEST_FILE)
    if declared is not None:
        if not isinstance(declared, str):
            raise fail(label, f"{MANIFEST_FILE}: 'mediaType' must be a string")
        return declared
    return OCI_INDEX if value(label, document, "manifests", MANIFEST_FILE) is not None \
        else OCI_MANIFEST


def _index(media_type: str, digest: str, size: int) -> bytes:
    entry = {"mediaType": media_type, "digest": digest, "size": size}
    return json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [entry]},
                      separators=(",", ":")).encode()


def check_version(label: str, data: bytes) -> None:
    if data not in VERSIONS:
        raise fail(label, f"is a skopeo dir: folder of an unknown version "
                   f"({describe_name(data[:60].decode('utf-8', 'replace'))!r}); versions 1.0 "
                   "and 1.1 are read")


def notes(names: set[str] | frozenset[str]) -> list[str]:
    """What the folder holds that the station does not import (containers/image signatures)."""
    found = sorted(name for name in names if _SIGNATURE.fullmatch(name))
    return [f"{name}: a containers/image signature, not checked and not imported"
            for name in found]


class SkopeoDirFolder:
    """A `JsonSource` over a `dir:` folder on the media (inspection), seen as an OCI layout."""

    def __init__(self, inner: JsonSource) -> None:
        self.inner = inner
        self.label = inner.label
        check_version(self.label, inner.read_small(VERSION_FILE, "the version file"))
        manifest = inner.read_small(MANIFEST_FILE, MANIFEST_FILE)
        self.top = sha256_digest(manifest)
        self._index = _index(_top_media_type(self.label, manifest), self.top, len(manifest))

    def _name(self, name: str) -> str:
        hexdigest = name.removeprefix("blobs/sha256/")
        if hexdigest == name or not _BLOB.fullmatch(hexdigest):
            return name
        if f"sha256:{hexdigest}" == self.top:
            return MANIFEST_FILE
        instance = f"{hexdigest}.manifest.json"
        return instance if self.inner.has_file(instance) else hexdigest

    def read_small(self, name: str, what: str) -> bytes:
        if name == "oci-layout":
            return _OCI_LAYOUT
        if name == "index.json":
            return self._index
        return self.inner.read_small(self._blob_name(name, what), what)

    def file_size(self, name: str, what: str) -> int:
        return self.inner.file_size(self._blob_name(name, what), what)

    def _blob_name(self, name: str, what: str) -> str:
        mapped = self._name(name)
        if mapped == name:
            raise fail(self.label, f"{what} ({describe_name(name)}) is not a blob of the "
                       "dir: folder")
        return mapped

    def has_file(self, name: str) -> bool:
        """The layout's names only: `manifest.json` here is no docker save manifest."""
        if name in ("oci-layout", "index.json"):
            return True
        mapped = self._name(name)
        return mapped != name and self.inner.has_file(mapped)


def as_layout(members: Members, limits: Limits) -> Members:
    """The hashed files of a `dir:` folder as the members of an OCI layout (verification).

    Every `<hex>` and `<hex>.manifest.json` file must hash to `<hex>`; `manifest.json` is
    named by the digest it hashed to. The returned members share the originals' blobs.
    """
    label = members.label
    version = members.small(VERSION_FILE)
    check_version(label, version if version is not None else b"")
    top = members.blob(MANIFEST_FILE, MANIFEST_FILE)
    manifest = members.small(MANIFEST_FILE)
    if manifest is None or top.digest is None:
        raise fail(label, f"{MANIFEST_FILE} is not a JSON document")
    # The view lists bytes already counted against the bundle's budget; its own budget only
    # bounds the two documents it adds.
    view = Members(label, limits, ByteBudget(limits.max_archive_index_bytes))
    view.add_file(f"blobs/sha256/{top.digest.removeprefix('sha256:')}", top, manifest)
    for name, blob in members.files.items():
        match = _BLOB.fullmatch(name)
        if match is None:
            continue
        if blob.digest != f"sha256:{match.group(1)}":
            raise fail(label, f"{describe_name(name)} does not match the digest in its name "
                       f"(it hashes to {blob.digest})")
        view.add_file(f"blobs/sha256/{match.group(1)}", blob, members.small(name))
    index = _index(_top_media_type(label, manifest), top.digest, top.size)
    view.add_file("index.json", Blob(len(index), sha256_digest(index)), index)
    view.add_file("oci-layout", Blob(len(_OCI_LAYOUT), sha256_digest(_OCI_LAYOUT)), _OCI_LAYOUT)
    return view
