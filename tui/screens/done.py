"""Step 6: the receipt, then the one thing left to do: remove the media."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Footer, Static

from station.importing.base import Receipt
from tui.format import digest_lines, local_and_utc
from tui.safe_text import SafeText
from tui.screens.base import StepScreen
from tui.widgets import DigestView, StepHeader, VerdictBadge
from tui.widgets.scroll_pane import ScrollPane

if TYPE_CHECKING:
    from station.workflow import Transfer


def _digest_block(label: str, digest: str) -> str:
    """`label sha256:` then the hex in groups of four, indented: fits 80 columns."""
    lines = digest_lines(digest if ":" in digest else f"sha256:{digest}")
    return f"    {label} sha256:\n" + "".join(f"      {line}\n" for line in lines)


def receipt_text(receipt: Receipt, approvers: list[str], bundle: str | None = None) -> Text:
    """What was imported where, with digests, who approved it and when (local and UTC)."""
    text = SafeText()
    if bundle:
        text.append(f"Bundle: {bundle}\n")
    text.append(f"Imported into: {receipt.target}\n")
    for image in receipt.images:
        refs = ", ".join(image.references) or "(untagged)"
        text.append(f"✔ image {refs}\n")
        if image.manifest_digest:
            text.append(_digest_block("manifest", image.manifest_digest))
        text.append(f"    at {image.where}\n")
    for delivered in receipt.files:
        text.append(f"✔ file {delivered.path}\n")
        text.append(_digest_block("content", delivered.sha256))
        text.append(f"    at {delivered.where}\n")
    text.append(f"Approved by: {', '.join(approvers) or '-'}\n")
    text.append(f"Started  {local_and_utc(receipt.started)}\n")
    text.append(f"Finished {local_and_utc(receipt.finished)}")
    return text


def approver_names(transfer: Transfer) -> list[str]:
    """The approvers in order, with their role: `alice (operator), bob (verifier)`."""
    return [f"{a.operator} ({a.role})" for a in transfer.approvals]


class DoneScreen(StepScreen):
    """Shown until the media is removed; removal brings the waiting screen back."""

    def __init__(self, transfer: Transfer, receipt: Receipt) -> None:
        super().__init__(classes="done-screen")
        self.transfer = transfer
        self.receipt = receipt

    def compose(self) -> ComposeResult:
        bundle = self.transfer.bundle
        name = bundle.info.name if bundle is not None and bundle.info is not None else None
        yield StepHeader(6, "Imported: remove the media")
        with ScrollPane(id="receipt"):
            yield VerdictBadge("imported")
            yield Static(receipt_text(self.receipt, approver_names(self.transfer), name),
                         id="receipt-text")
            yield DigestView(self.receipt.bundle_digest)
        yield Static("Transfer complete. Remove the media now. ↑/↓ PgUp/PgDn scroll the "
                     "receipt.", classes="next-action")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#receipt", ScrollPane).focus()
