"""Crafted image archives that hold one image for one reader and another for the next.

Each builder returns the archive's bytes; the docstring says what Python's tarfile (and so
any reader built on it) finds and what Go's readers find: skopeo reads the tar in place,
`docker load` extracts it to disk first. Images A and B are two small valid docker images
(`image_a`, `image_b`) whose config digests tell the readings apart.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from tests import tar_headers as th


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _layer(content: bytes) -> bytes:
    data = th.tarfile_archive([("etc/image", content)])
    end = len(data.rstrip(b"\x00"))
    return data[: end + (-end % th.BLOCK)] + th.end()


@dataclass(frozen=True)
class Image:
    """A docker image: its config (named by digest) and one layer."""

    letter: str
    layer: bytes
    config: bytes

    @property
    def config_digest(self) -> str:
        return sha256(self.config)

    @property
    def config_name(self) -> str:
        return self.config_digest.removeprefix("sha256:") + ".json"

    @property
    def layer_name(self) -> str:
        return f"layer-{self.letter.lower()}/layer.tar"

    def entry(self, tag: str, **extra: Any) -> dict[str, Any]:
        return {"Config": self.config_name, "RepoTags": [tag], "Layers": [self.layer_name],
                **extra}

    def manifest(self, tag: str) -> bytes:
        return json.dumps([self.entry(tag)]).encode()

    def members(self) -> list[bytes]:
        """Config and layer members (no manifest.json)."""
        return [th.member(self.config_name, self.config),
                th.member(self.layer_name, self.layer)]


def make_image(letter: str, *, config: dict[str, Any] | None = None,
               layer: bytes | None = None) -> Image:
    layer = layer if layer is not None else _layer(f"image {letter}\n".encode())
    document = {"architecture": "amd64", "os": "linux",
                "config": {"Labels": {"image": letter}},
                "rootfs": {"type": "layers", "diff_ids": [sha256(layer)]}}
    document.update(config or {})
    return Image(letter, layer, json.dumps(document).encode())


def image_a() -> Image:
    return make_image("A")


def image_b() -> Image:
    return make_image("B")


def image_b_on_a_layer() -> Image:
    """Image B's config over image A's layer (where only the config may differ)."""
    return make_image("B", layer=image_a().layer)


def tarball(parts: list[bytes]) -> bytes:
    return th.archive(*parts)


# -- tar header polyglots ------------------------------------------------------------------

def nul_size(tag: str) -> bytes:
    """A member whose size field starts with NUL: Python reads size 0 and goes on into the
    member's data, which is a whole archive of image A; Go reads the size after the NUL,
    skips that data, and reads image B after it."""
    a, b = image_a(), image_b()
    inner = tarball([*a.members(), th.member("manifest.json", a.manifest(tag))])
    field = b"\x00" + th.octal(len(inner), 11)[:-1]
    hidden = th.Header(name=b"padding", size=field).block() + inner
    return tarball([hidden, *b.members(), th.member("manifest.json", b.manifest(tag))])


def pax_and_gnu_names(tag: str) -> bytes:
    """Two members, each with a PAX path and a GNU long name: Python keeps the PAX path (the
    first manifest.json is A's), Go the GNU name (the second is B's)."""
    a, b = image_a(), image_b()
    return tarball([
        *a.members(), *b.members(),
        th.pax_header([("path", "manifest.json")]), th.gnu_long_name("notes-a.json"),
        th.member("placeholder-1", a.manifest(tag)),
        th.pax_header([("path", "notes-b.json")]), th.gnu_long_name("manifest.json"),
        th.member("placeholder-2", b.manifest(tag)),
    ])


def bad_checksum_after_first(tag: str) -> bytes:
    """Image A, then a header with a wrong checksum, then image B's manifest: Python ends
    the archive at the bad header (A); Go refuses the archive."""
    a, b = image_a(), image_b()
    return tarball([*a.members(), th.member("manifest.json", a.manifest(tag)),
                    th.member("broken", b"x", checksum=th.octal(1, 8)), *b.members()])


def malformed_pax_record(tag: str) -> bytes:
    """A PAX header whose first record names manifest.json and whose second is garbage:
    Python applies the first and stops parsing; Go refuses the archive."""
    a = image_a()
    return tarball([*a.members(),
                    th.pax_header(th.pax_record("path", "manifest.json") + b"garbage\n"),
                    th.member("placeholder", a.manifest(tag))])


def repeated_pax_headers(tag: str) -> bytes:
    """Two PAX headers before each of two members: Python keeps the first of each pair
    (A's manifest.json), Go the last (B's)."""
    a, b = image_a(), image_b()
    return tarball([
        *a.members(), *b.members(),
        th.pax_header([("path", "manifest.json")]), th.pax_header([("path", "notes-a.json")]),
        th.member("placeholder-1", a.manifest(tag)),
        th.pax_header([("path", "notes-b.json")]), th.pax_header([("path", "manifest.json")]),
        th.member("placeholder-2", b.manifest(tag)),
    ])


def prefix_without_magic(tag: str) -> bytes:
    """manifest.json in a header without ustar magic but with a prefix: Python joins the
    prefix (`docs/manifest.json`: no image at all, a plain file to a reader built on it);
    Go ignores a prefix without magic and reads image B."""
    b = image_b()
    manifest = th.member("manifest.json", b.manifest(tag), magic=bytes(8), prefix=b"docs")
    return tarball([*b.members(), manifest])


def single_end_block_then_data(tag: str) -> bytes:
    """Image A, one zero block, then more members: Python stops at the zero block (A); Go
    refuses a zero block followed by data."""
    a, b = image_a(), image_b()
    return (b"".join([*a.members(), th.member("manifest.json", a.manifest(tag))])
            + bytes(th.BLOCK) + b"".join(b.members()) + th.end())


def data_after_end(tag: str) -> bytes:
    """Image A and its end blocks, then image B's members: Python, Go and docker stop at the
    end blocks (A); GNU tar --ignore-zeros, and tools that concatenate archives, go on."""
    a, b = image_a(), image_b()
    return (tarball([*a.members(), th.member("manifest.json", a.manifest(tag))])
            + tarball([*b.members(), th.member("manifest.json", b.manifest(tag))]))


def below_symlinked_folder(tag: str) -> bytes:
    """The config sits below `cfg`, a symlink to `real`, and `real/` holds B's config under
    the same file name: readers of the tar (Python, skopeo) read A's config at `cfg/...`;
    `docker load` extracts, so the first file lands in `real/` and the second replaces it:
    docker reads B's config there."""
    a, b_same_layer = image_a(), image_b_on_a_layer()
    name = "config.json"
    entry = {"Config": f"cfg/{name}", "RepoTags": [tag], "Layers": [a.layer_name]}
    return tarball([
        th.member(a.layer_name, a.layer), th.folder("real"), th.symlink("cfg", "real"),
        th.member(f"cfg/{name}", a.config), th.member(f"real/{name}", b_same_layer.config),
        th.member("manifest.json", json.dumps([entry]).encode()),
    ])


def star_trailer(tag: str) -> bytes:
    """A header ending in star's `tar\\0` trailer: Python reads a 155-byte prefix, Go 131
    bytes, so its layer is `D/layer.tar` to Go (as is the plain member before it, with A's
    layer) and `D00000000000 00000000000 /layer.tar` to Python. Python reads A's layer where
    the manifest points; docker extracts both and keeps the later, B's."""
    folder = "d" * 131
    layer_a = _layer(b"layer A\n")
    layer_b = _layer(b"layer B\n")
    image = make_image("A", layer=layer_b)  # docker checks the layer against the config
    entry = {"Config": image.config_name, "RepoTags": [tag], "Layers": [f"{folder}/layer.tar"]}
    star = th.member("layer.tar", layer_b, prefix=folder.encode() + b"00000000000 " * 2,
                     pad=th.STAR_TRAILER.rjust(12, b"\x00"))
    return tarball([th.member(image.config_name, image.config),
                    th.member("layer.tar", layer_a, prefix=folder.encode()), star,
                    th.member("manifest.json", json.dumps([entry]).encode())])


# -- JSON polyglots --------------------------------------------------------------------------

def _json_with_pairs(pairs: list[tuple[str, Any]]) -> str:
    return "{" + ",".join(f"{json.dumps(k)}:{json.dumps(v)}" for k, v in pairs) + "}"


def config_and_config(tag: str) -> bytes:
    """A manifest.json entry with `Config` (A) and a later `config` (B): Python's json keeps
    both keys and a reader asks for `Config` (A); Go matches keys case-insensitively and
    keeps the last (B)."""
    a, b = image_a(), image_b()
    entry = _json_with_pairs([("Config", a.config_name), ("RepoTags", [tag]),
                              ("Layers", [a.layer_name]), ("config", b.config_name),
                              ("layers", [b.layer_name])])
    return tarball([*a.members(), *b.members(), th.member("manifest.json",
                                                          f"[{entry}]".encode())])


def rootfs_and_rootfs(tag: str) -> tuple[bytes, str, str]:
    """A config with `rootfs` (layer A's diff_id) and a later `RootFS` (layer B's): Python
    reads `rootfs`, Go the last match. The manifest's layer is B's, so docker loads it.
    Returns the archive and the two diff_ids (Python's, Go's)."""
    layer_a, layer_b = _layer(b"layer A\n"), _layer(b"layer B\n")
    config = _json_with_pairs([
        ("architecture", "amd64"), ("os", "linux"),
        ("rootfs", {"type": "layers", "diff_ids": [sha256(layer_a)]}),
        ("RootFS", {"type": "layers", "diff_ids": [sha256(layer_b)]}),
    ]).encode()
    image = Image("R", layer_b, config)
    return (tarball([*image.members(), th.member("manifest.json", image.manifest(tag))]),
            sha256(layer_a), sha256(layer_b))


def manifests_and_manifests() -> bytes:
    """An oci-archive whose index.json has `manifests` (A) and `Manifests` (B)."""
    a, b = image_a(), image_b()
    blobs: dict[str, bytes] = {}
    descriptors = []
    for image in (a, b):
        layer = image.layer
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": image.config_digest, "size": len(image.config)},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                        "digest": sha256(layer), "size": len(layer)}]}).encode()
        for data in (image.config, layer, manifest):
            blobs[sha256(data)] = data
        descriptors.append({"mediaType": "application/vnd.oci.image.manifest.v1+json",
                            "digest": sha256(manifest), "size": len(manifest)})
    index = _json_with_pairs([("schemaVersion", 2), ("manifests", [descriptors[0]]),
                              ("Manifests", [descriptors[1]])]).encode()
    return tarball([th.member("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'),
                    th.member("index.json", index),
                    *(th.member("blobs/sha256/" + d.removeprefix("sha256:"), data)
                      for d, data in sorted(blobs.items()))])


def long_s_tags(tag: str, other: str) -> bytes:
    """`RepoTags` (tag) and a later `RepoTag\\u017f` (other): Go folds the long s to `s`, so
    docker tags the image `other`; Python's json sees two different keys."""
    a = image_a()
    entry = _json_with_pairs([("Config", a.config_name), ("RepoTags", [tag]),
                              ("RepoTag\u017f", [other]), ("Layers", [a.layer_name])])
    return tarball([*a.members(), th.member("manifest.json", f"[{entry}]".encode())])


def kelvin_working_dir(tag: str) -> bytes:
    """A config whose `config` has `WorkingDir` (/a) and a later `Wor\\u212aingDir` (/evil):
    Go folds the Kelvin sign to `k` and keeps the last; Python sees two keys."""
    layer = _layer(b"image K\n")
    inner = _json_with_pairs([("WorkingDir", "/a"), ("Wor\u212aingDir", "/evil")])
    rootfs = json.dumps({"type": "layers", "diff_ids": [sha256(layer)]})
    config = f'{{"architecture":"amd64","os":"linux","config":{inner},"rootfs":{rootfs}}}'
    image = Image("K", layer, config.encode())
    return tarball([*image.members(), th.member("manifest.json", image.manifest(tag))])


def config_named_for_another(tag: str) -> bytes:
    """manifest.json names A's config file (`<digest of A>.json`), which holds B's config:
    an importer that picks the entry by file name believes it is A; docker loads B."""
    a, b_same_layer = image_a(), image_b_on_a_layer()
    return tarball([th.member(a.config_name, b_same_layer.config),
                    th.member(a.layer_name, a.layer),
                    th.member("manifest.json", a.manifest(tag))])
