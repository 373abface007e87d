"""The bundle digest in groups of four, large enough to read aloud and compare."""

from __future__ import annotations

from textual.widgets import Static

from tui.format import digest_lines


class DigestView(Static):
    """`sha256` then the hex in groups of four, eight groups a line."""

    def __init__(self, digest: str, *, id: str | None = None) -> None:
        algorithm = digest.partition(":")[0] if ":" in digest else "sha256"
        text = f"Bundle digest ({algorithm}):\n" + "\n".join(digest_lines(digest))
        super().__init__(text, id=id, classes="digest-view")
        self.digest = digest
