"""The bundle as a tree: images → tags, platform, layers; files; SBOMs; scan reports.

Every name shown here comes from the media, so it is rendered as plain text (`Text`), never
as markup: a file called `[red]OK[/]` shows those characters, not a red OK.
"""

from __future__ import annotations

from rich.text import Text
from textual.events import Resize
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from station.bundle.model import (
    Bundle,
    BundleFormat,
    Entry,
    Finding,
    ImageInfo,
    Item,
    ItemKind,
    Layer,
)
from station.progress import format_size
from tui.format import digest_lines, local_and_utc, plural, short_digest
from tui.safe_text import SafeText
from tui.widgets.scroll_pane import show_scroll_cue

_SECTIONS: tuple[tuple[str, tuple[ItemKind, ...]], ...] = (
    ("Images", (ItemKind.IMAGE_ARCHIVE, ItemKind.OCI_LAYOUT)),
    ("Files", (ItemKind.FILE,)),
    ("SBOMs", (ItemKind.SBOM,)),
    ("Scan reports", (ItemKind.SCAN_REPORT,)),
)


KIND_WORDS = {
    ItemKind.IMAGE_ARCHIVE: "Image archive",
    ItemKind.OCI_LAYOUT: "OCI image layout",
    ItemKind.FILE: "File",
    ItemKind.SBOM: "SBOM (software bill of materials)",
    ItemKind.SCAN_REPORT: "Vulnerability scan report",
}
"""Each kind of item in the operator's words, never the manifest's internal label."""

FORMAT_WORDS = {
    BundleFormat.NATIVE: "bundle.json (signed bundle manifest)",
    BundleFormat.SHA256SUMS: "SHA256SUMS (signed list of checksums)",
}


def _count(number: int, noun: str) -> str:
    return plural(number, noun)


def _size(size: int | None) -> str:
    return format_size(size) if size is not None else "size unknown"


class BundleTree(Tree[object]):
    """A read-only tree of the bundle; node data is the model object the detail pane shows."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(SafeText("Bundle"), id=id)
        self.show_root = True

    def on_mount(self) -> None:
        self._update_cue = show_scroll_cue(self)

    def on_resize(self, event: Resize) -> None:
        self.call_after_refresh(self._update_cue)

    def show(self, bundle: Bundle) -> None:
        """Replace the tree with this bundle's contents, sections expanded."""
        self.clear()
        title = bundle.info.name if bundle.info is not None else bundle.manifest_name
        self.root.set_label(SafeText(f"Bundle {title} ({_count(len(bundle.entries), 'file')})"))
        self.root.data = bundle
        for section, kinds in _SECTIONS:
            items = [item for item in bundle.items if item.kind in kinds]
            if not items:
                continue
            node = self.root.add(SafeText(f"{section} ({len(items)})"), expand=True)
            for item in items:
                self._add_item(node, item)
        findings = [*bundle.problems, *bundle.warnings]
        if findings:
            node = self.root.add(SafeText(f"Problems and warnings ({len(findings)})"), expand=True)
            for finding in findings:
                node.add_leaf(SafeText(finding.message), data=finding)
        self.root.expand()

    def _add_item(self, parent: TreeNode[object], item: Item) -> None:
        if item.kind in (ItemKind.IMAGE_ARCHIVE, ItemKind.OCI_LAYOUT):
            node = parent.add(SafeText(f"{item.path}  {_size(item.size)}"), data=item, expand=True)
            for image in item.images:
                self._add_image(node, image)
            if not item.images:
                node.add_leaf(SafeText("no image found in it"), data=item)
        else:
            parent.add_leaf(SafeText(f"{item.path}  {_size(item.size)}"), data=item)

    def _add_image(self, parent: TreeNode[object], image: ImageInfo) -> None:
        tags = ", ".join(image.references) or "(untagged)"
        node = parent.add(SafeText(f"{tags}  {format_size(image.total_size)}"), data=image,
                          expand=True)
        node.add_leaf(SafeText(f"platform {image.platform}"), data=image)
        layer_bytes = sum(layer.size for layer in image.layers)
        layers = node.add(
            SafeText(f"{_count(len(image.layers), 'layer')}, {format_size(layer_bytes)}"),
            data=image,
        )
        for layer in image.layers:
            layers.add_leaf(SafeText(f"{short_digest(layer.digest)}  {format_size(layer.size)}"),
                            data=layer)


def describe(thing: object) -> Text:
    """The detail pane's text for whatever node is highlighted."""
    lines: list[str] = []
    if isinstance(thing, Bundle):
        manifest = FORMAT_WORDS.get(thing.format, thing.manifest_name)
        if thing.manifest_name not in manifest:
            manifest = f"{thing.manifest_name}, {manifest}"
        lines += [f"Manifest: {manifest}",
                  "Bundle digest:", *digest_lines(thing.digest, per_line=4),
                  f"Files listed: {len(thing.entries)}, {format_size(thing.declared_size)}"]
        if thing.info is not None:
            info = thing.info
            lines += [f"Name: {info.name}", f"Channel: {info.channel} #{info.sequence}",
                      f"Producer: {info.producer}", f"Created: {local_and_utc(info.created)}"]
        lines.append(f"Signatures beside it: {len(thing.signatures)}")
        if thing.problems:
            lines.append(f"Problems already seen: {len(thing.problems)}")
    elif isinstance(thing, Item):
        lines += [f"{KIND_WORDS.get(thing.kind, str(thing.kind))}: {thing.path}",
                  f"Size: {_size(thing.size)}"]
        single = len(thing.entries) == 1 and thing.entries[0].path == thing.path
        if not single:  # one file named like the item: its line would say the same again
            lines.append(f"Files: {len(thing.entries)}")
        if thing.images:
            lines.append(f"Images: {len(thing.images)}")
        if thing.references:
            lines.append("Declared references: " + ", ".join(thing.references))
        if not single:
            lines += [f"  {entry.path}  {_size(entry.size)}" for entry in thing.entries[:20]]
        if len(thing.entries) > 20:
            lines.append(f"  … and {len(thing.entries) - 20} more")
    elif isinstance(thing, ImageInfo):
        lines += ["Tags: " + (", ".join(thing.references) or "(untagged)"),
                  f"Platform: {thing.platform}", f"Manifest: {thing.manifest_digest}",
                  f"Config: {thing.config_digest}",
                  f"Size: {format_size(thing.total_size)} (layers "
                  f"{format_size(sum(layer.size for layer in thing.layers))}, config "
                  f"{format_size(thing.config_size)})"]
        if thing.created:
            lines.append(f"Created: {local_and_utc(thing.created)}")
        lines += [f"Label {key}={value}" for key, value in sorted(thing.labels.items())]
    elif isinstance(thing, Layer):
        lines += [f"Layer {thing.digest}", f"Size: {format_size(thing.size)}"]
        if thing.media_type:
            lines.append(f"Type: {thing.media_type}")
    elif isinstance(thing, Entry):
        lines += [thing.path, f"Expected sha256: {thing.sha256}", f"Size: {_size(thing.size)}"]
    elif isinstance(thing, Finding):
        lines += [thing.message, f"Code: {thing.code}"]
        if thing.path:
            lines.append(f"File: {thing.path}")
    return SafeText("\n".join(lines))
