"""Hypothesis strategies for the media readers: member names, tar archives, JSON, references.

Each strategy produces what an honest writer could produce (so the readers must accept it)
or, through `mutations`, what a crafted archive could hold. Tests that use them state the
property: only the station's own errors, round trips, agreement with another reader.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import os
import string
import tarfile
import unicodedata
from dataclasses import dataclass
from typing import Any

from hypothesis import assume as hypothesis_assume
from hypothesis import strategies as st

from station.bundle.compression import _zstd
from station.references import normalise
from tests import tar_headers as th
from tests.oci_fixtures import (
    DockerImageSpec,
    docker_archive_members,
    docker_config,
    layer_tar,
    sha256,
)


def examples(count: int) -> int:
    """`count` examples, times `STATION_PROPERTY_SCALE` (set it to search longer)."""
    return count * max(1, int(os.environ.get("STATION_PROPERTY_SCALE", "1")))


# Letters that fold differently across readers, spaces and accents, beside plain ASCII.
_NAME_ALPHABET = string.ascii_letters + string.digits + "._-" + "\u00e9 \u017f\u212a\u00df\u0130"
_COMPONENT = st.text(_NAME_ALPHABET, min_size=1, max_size=24).filter(
    lambda part: part not in (".", "..") and not part.isspace()
)


def _fold(name: str) -> str:
    return unicodedata.normalize("NFC", name).casefold()


member_names = st.lists(_COMPONENT, min_size=1, max_size=3).map("/".join)
"""Safe relative member names (`check_relative_path` accepts each)."""


@dataclass(frozen=True)
class TarEntry:
    """One member an honest writer puts in an image archive."""

    name: str
    kind: str  # "file", "dir" or "symlink"
    data: bytes = b""
    linkname: str = ""


def _parents(name: str) -> list[str]:
    parts = name.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


@st.composite
def tar_entries(draw: st.DrawFn, *, max_files: int = 6) -> list[TarEntry]:
    """Files with distinct names (also once folded), their folders, perhaps a symlink.

    Every name's parents are folders (never a file or a link), spelt one way, as in a real
    image archive.
    """
    drawn = draw(st.lists(member_names, min_size=1, max_size=max_files, unique_by=_fold))
    spelling: dict[str, str] = {}
    names: list[str] = []
    for name in drawn:
        parents = _parents(name)
        if any(spelling.setdefault(_fold(p), p) != p for p in parents):
            continue
        names.append(name)
    folders = {p for name in names for p in _parents(name)}
    names = [name for name in names if _fold(name) not in {_fold(f) for f in folders}]
    hypothesis_assume(bool(names))
    entries = [TarEntry(folder, "dir") for folder in sorted(folders) if draw(st.booleans())]
    entries += [TarEntry(name, "file", draw(st.binary(max_size=1500))) for name in names]
    taken = {_fold(entry.name) for entry in entries} | {_fold(f) for f in folders}
    if draw(st.booleans()):
        link = "link-" + draw(_COMPONENT)
        if _fold(link) not in taken:
            entries.append(TarEntry(link, "symlink", linkname=names[0]))
    return draw(st.permutations(entries))


def tarfile_bytes(entries: list[TarEntry], fmt: int) -> bytes:
    """The archive Python's tarfile writes for `entries` in `fmt` (PAX or USTAR)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=fmt, encoding="utf-8") as tar:
        for entry in entries:
            info = tarfile.TarInfo(entry.name)
            info.mtime = 0
            if entry.kind == "dir":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            elif entry.kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, entry.linkname
                tar.addfile(info)
            else:
                info.size = len(entry.data)
                tar.addfile(info, io.BytesIO(entry.data))
    return buffer.getvalue()


# -- crafted headers ----------------------------------------------------------------------

_NUMERIC_FIELDS = st.one_of(
    st.integers(0, 4096).map(lambda n: th.octal(n, 12)),
    st.integers(0, 4096).map(lambda n: b"\x00" + th.octal(n, 11)),      # NUL first
    st.integers(0, 4096).map(lambda n: f"{n:o}".encode().rjust(11) + b" "),  # space padded
    st.integers(0, 4096).map(lambda n: f"{n:o}".encode().ljust(12, b" ")),
    st.binary(min_size=1, max_size=12),
    st.sampled_from([b"", b" " * 12, b"\x80" + bytes(10) + b"\x01", b"\xff" * 12, b"-1",
                     b"0" * 12, b"7" * 12, b"1 2", b"12\x0034"]),
)
_PAX_KEYS = st.sampled_from(["path", "linkpath", "size", "uid", "gid", "mtime", "atime",
                             "uname", "comment", "hdrcharset", "GNU.sparse.size",
                             "SCHILY.xattr.user.x", "charset", "PATH", ""])
_PAX_VALUES = st.one_of(
    member_names, st.integers(0, 10**6).map(str), st.text(max_size=20),
    st.sampled_from(["", "-1", "1.5", "1e3", " 12", "0x10", "9" * 30, "1" * 5000,
                     "\x00", "manifest.json", "./manifest.json", "../x"]),
)
_RAW_PAX = st.one_of(
    st.lists(st.tuples(_PAX_KEYS, _PAX_VALUES), max_size=3).map(
        lambda records: b"".join(th.pax_record(k, v) for k, v in records)),
    st.binary(max_size=64),
    st.sampled_from([b"5 a=\n", b"6 a=b\nxx", b"0 a=b\n", b"99 path=x\n", b"7 path=x",
                     b"12 path=abc\n", b"10  path=x\n", b"07 a=bc\n"]),
)


@dataclass(frozen=True)
class Mutation:
    """One change to an archive: where it applies (a block index) and what it does."""

    kind: str
    block: int
    value: Any


mutations = st.one_of(
    st.builds(Mutation, st.just("field"), st.integers(0, 40),
              st.tuples(st.sampled_from(["size", "mode", "uid", "mtime", "checksum"]),
                        _NUMERIC_FIELDS, st.booleans())),
    st.builds(Mutation, st.just("typeflag"), st.integers(0, 40),
              st.tuples(st.sampled_from(list(b"0125x" b"gLK346 7SV\x00")), st.booleans())),
    st.builds(Mutation, st.just("magic"), st.integers(0, 40),
              st.sampled_from([bytes(8), th.GNU_MAGIC, b"ustar\x00  ", b"ustar\x00\x00\x00"])),
    st.builds(Mutation, st.just("prefix"), st.integers(0, 40),
              st.sampled_from([b"x", b"a" * 131 + b"0" * 11 + b" " + b"0" * 11 + b" ", b"d"])),
    st.builds(Mutation, st.just("pad"), st.integers(0, 40),
              st.sampled_from([th.STAR_TRAILER.rjust(12, b"\x00"), b"\x01"])),
    st.builds(Mutation, st.just("name"), st.integers(0, 40),
              st.one_of(member_names.map(str.encode),
                        st.sampled_from([b"./", b"a/", b"./a", b"/abs", b"a/../b", b"a\\b",
                                         b"\xff", b"manifest.json", b"MANIFEST.JSON"]))),
    st.builds(Mutation, st.just("insert"), st.integers(0, 40), st.one_of(
        _RAW_PAX.map(lambda data: th.member("PaxHeaders/x", data, typeflag=b"x")),
        _RAW_PAX.map(lambda data: th.member("PaxHeaders/g", data, typeflag=b"g")),
        member_names.map(th.gnu_long_name),
        member_names.map(lambda n: th.gnu_long_name(n, typeflag=b"K")),
        st.just(bytes(th.BLOCK)),
        st.binary(min_size=th.BLOCK, max_size=th.BLOCK),
    )),
    st.builds(Mutation, st.just("byte"), st.integers(0, 1 << 16), st.integers(0, 255)),
    st.builds(Mutation, st.just("truncate"), st.integers(0, 1 << 16), st.none()),
    st.builds(Mutation, st.just("append"), st.just(0),
              st.sampled_from([b"\x00", b"x", bytes(th.BLOCK), b"\x00" * 700 + b"x"])),
)

_FIELDS = {"name": (0, 100), "mode": (100, 108), "uid": (108, 116), "size": (124, 136),
           "mtime": (136, 148), "checksum": (148, 156), "typeflag": (156, 157),
           "magic": (257, 265), "prefix": (345, 500), "pad": (500, 512)}


def _fix_checksum(block: bytearray) -> None:
    block[148:156] = b" " * 8
    block[148:156] = f"{sum(block):06o}".encode() + b"\x00 "


def header_offsets(data: bytes) -> list[int]:
    """Offsets of the blocks that are headers (by a tolerant walk that trusts sizes)."""
    offsets: list[int] = []
    pos = 0
    while pos + th.BLOCK <= len(data):
        block = data[pos:pos + th.BLOCK]
        if block == bytes(th.BLOCK):
            break
        offsets.append(pos)
        try:
            size = int(block[124:136].split(b"\x00")[0].strip() or b"0", 8)
        except ValueError:
            break
        if size < 0:  # int() reads "-777" too: the walk would go back and never end
            break
        kind = block[156:157]
        if kind in (b"1", b"2", b"3", b"4", b"5", b"6"):
            size = 0
        pos += th.BLOCK + size + (-size % th.BLOCK)
    return offsets


def fix_checksums(data: bytes) -> bytes:
    """`data` with the checksum of every header (found by `header_offsets`) made right."""
    out = bytearray(data)
    for at in header_offsets(data):
        block = bytearray(out[at:at + th.BLOCK])
        _fix_checksum(block)
        out[at:at + th.BLOCK] = block
    return bytes(out)


def mutate(data: bytes, changes: list[Mutation]) -> bytes:
    """Apply `changes` in order; header changes hit a header block chosen by index."""
    out = bytearray(data)
    for change in changes:
        headers = header_offsets(bytes(out))
        at = headers[change.block % len(headers)] if headers else 0
        if change.kind in ("field", "typeflag", "magic", "prefix", "pad", "name"):
            if not headers:
                continue
            block = bytearray(out[at:at + th.BLOCK])
            if change.kind == "field":
                name, raw, fix = change.value
            elif change.kind == "typeflag":
                name, (flag, fix) = "typeflag", change.value
                raw = bytes([flag])
            else:
                name, raw, fix = change.kind, change.value, True
            start, stop = _FIELDS[name]
            block[start:stop] = raw[:stop - start].ljust(stop - start, b"\x00")
            if fix and name != "checksum":
                _fix_checksum(block)
            out[at:at + th.BLOCK] = block
        elif change.kind == "insert":
            out[at:at] = change.value
        elif change.kind == "byte" and out:
            out[change.block % len(out)] = change.value
        elif change.kind == "truncate":
            del out[change.block % (len(out) + 1):]
        elif change.kind == "append":
            out += change.value
    return bytes(out)


# -- JSON -----------------------------------------------------------------------------------

_KEYS = st.text(string.ascii_letters + "_-" + "\u017f\u212a\u00e9", min_size=1, max_size=12)
json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.text(max_size=30).filter(lambda s: not any(0xD800 <= ord(c) <= 0xDFFF for c in s)),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(_KEYS, children, max_size=5).filter(
            lambda d: len({k.casefold() for k in d}) == len(d)),
    ),
    max_leaves=30,
)
"""JSON documents the strict loader must accept: keys distinct once case-folded."""


# -- references -------------------------------------------------------------------------------

_PATH_PART = st.from_regex(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+){0,2}", fullmatch=True)
_HOST = st.one_of(
    st.sampled_from(["docker.io", "index.docker.io", "localhost", "registry.example.org",
                     "localhost:5000", "127.0.0.1:5000", "Registry.Example.org", "[::1]:5000"]),
    st.from_regex(r"[a-z0-9]{1,8}\.[a-z]{2,4}(?::[0-9]{2,5})?", fullmatch=True),
)


@st.composite
def references(draw: st.DrawFn) -> str:
    """Valid references by the distribution grammar, written the ways people write them."""
    parts = draw(st.lists(_PATH_PART, min_size=1, max_size=3))
    name = "/".join(parts)
    if draw(st.booleans()):
        name = f"{draw(_HOST)}/{name}"
    if draw(st.booleans()):
        name += ":" + draw(st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True))
    if draw(st.booleans()):
        name += "@sha256:" + draw(st.from_regex(r"[0-9a-f]{64}", fullmatch=True))
    return name


# -- image archives ---------------------------------------------------------------------------

@dataclass(frozen=True)
class ImageArchive:
    """A generated image archive and what any reader must find in it."""

    data: bytes
    form: str  # "docker" or "oci"
    config_digests: tuple[str, ...]  # in manifest.json / index.json order
    references: tuple[tuple[str, ...], ...]  # normalised names of each image


_TAGS = st.from_regex(
    # A tag ends in a letter or digit: skopeo addresses OCI names by the OCI ref.name
    # grammar, which refuses `a:0.` (a valid docker reference).
    r"(?:registry\.example\.org/)?[a-z]{1,6}(?:/[a-z0-9]{1,6})?:[a-z0-9](?:[a-z0-9.]{0,3}[a-z0-9])?",
    fullmatch=True,
)


@st.composite
def image_specs(draw: st.DrawFn, *, max_images: int = 3) -> list[DockerImageSpec]:
    """1 to `max_images` distinct images sharing some layers, each with its own names."""
    layers = draw(st.lists(st.dictionaries(member_names, st.binary(max_size=200), min_size=1,
                                           max_size=2).map(layer_tar), min_size=1, max_size=3))
    count = draw(st.integers(1, max_images))
    tags = draw(st.lists(_TAGS, min_size=count, max_size=count * 2, unique_by=normalise))
    specs = []
    for i in range(count):
        mine = draw(st.lists(st.sampled_from(layers), min_size=1, max_size=2))
        arch = draw(st.sampled_from(["amd64", "arm64", "s390x"]))
        specs.append(DockerImageSpec(tags[i::count], mine, arch))
    unique: dict[bytes, DockerImageSpec] = {}
    for spec in specs:  # identical specs would be one image with two names
        unique.setdefault(docker_config(spec), spec)
    return list(unique.values())


def _entries(members: list[Any]) -> list[TarEntry]:
    kinds = {tarfile.DIRTYPE: "dir", tarfile.SYMTYPE: "symlink"}
    return [TarEntry(m.name, kinds.get(m.type, "file"), m.data, m.linkname) for m in members]


def oci_members(specs: list[DockerImageSpec]) -> tuple[list[TarEntry], list[str]]:
    """An oci-archive's members for these images (gzip layers), and their config digests."""
    blobs: dict[str, bytes] = {}

    def add(data: bytes) -> str:
        digest = sha256(data)
        blobs[digest] = data
        return digest

    descriptors, configs = [], []
    for spec in specs:
        config = docker_config(spec)
        layers = [gzip.compress(layer, mtime=0) for layer in spec.layers]
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": add(config), "size": len(config)},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                        "digest": add(layer), "size": len(layer)} for layer in layers],
        }).encode()
        configs.append(sha256(config))
        for tag in spec.tags:
            descriptors.append({"mediaType": "application/vnd.oci.image.manifest.v1+json",
                                "digest": add(manifest), "size": len(manifest),
                                "annotations": {"org.opencontainers.image.ref.name": tag}})
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": descriptors}
    entries = [TarEntry("oci-layout", "file", b'{"imageLayoutVersion":"1.0.0"}'),
               TarEntry("index.json", "file", json.dumps(index).encode()),
               TarEntry("blobs", "dir"), TarEntry("blobs/sha256", "dir")]
    entries += [TarEntry("blobs/sha256/" + d.removeprefix("sha256:"), "file", data)
                for d, data in sorted(blobs.items())]
    return entries, configs


COMPRESSIONS = ("none", "gzip", "bzip2", "xz", "zstd")


def compress(data: bytes, how: str) -> bytes:
    """`data` compressed as `how` says (one of COMPRESSIONS)."""
    return {"none": lambda d: d, "gzip": lambda d: gzip.compress(d, mtime=0),
            "bzip2": bz2.compress, "xz": lzma.compress, "zstd": _zstd.compress}[how](data)


@st.composite
def image_archives(draw: st.DrawFn, *, compressions: tuple[str, ...] = COMPRESSIONS,
                   max_images: int = 3) -> ImageArchive:
    """A docker save or oci-archive of generated images, members in any order."""
    specs = draw(image_specs(max_images=max_images))
    form = draw(st.sampled_from(["docker", "oci"]))
    if form == "docker":
        entries = _entries(docker_archive_members(specs))
        configs = [sha256(docker_config(spec)) for spec in specs]
    else:
        entries, configs = oci_members(specs)
    order = draw(st.permutations(range(len(entries))))
    folders_first = sorted(order, key=lambda i: entries[i].kind != "dir")
    data = tarfile_bytes([entries[i] for i in folders_first], draw(st.sampled_from(
        [tarfile.PAX_FORMAT, tarfile.USTAR_FORMAT])))
    refs = tuple(tuple(dict.fromkeys(normalise(t) for t in spec.tags)) for spec in specs)
    return ImageArchive(compress(data, draw(st.sampled_from(compressions))), form,
                        tuple(configs), refs)
