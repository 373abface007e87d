"""Step 6: the receipt, then the one thing left to do: remove the media."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Footer, Static

from station.importing.base import Receipt
from tui.screens.base import StepScreen
from tui.widgets import DigestView, StepHeader, VerdictBadge

if TYPE_CHECKING:
    from station.workflow import Transfer


def receipt_text(receipt: Receipt, approvers: list[str]) -> Text:
    """What was imported where, with digests, and who approved it."""
    text = Text()
    text.append(f"Imported into: {receipt.target}\n")
    for image in receipt.images:
        refs = ", ".join(image.references) or "(untagged)"
        text.append(f"✔ image {refs}, manifest:\n    {image.manifest_digest}\n")
        text.append(f"    at {image.where}\n")
    for delivered in receipt.files:
        digest = delivered.sha256.removeprefix("sha256:")
        text.append(f"✔ file {delivered.path}:\n    sha256:{digest}\n    at {delivered.where}\n")
    text.append(f"Approved by: {', '.join(approvers) or '-'}\n")
    text.append(f"Started {receipt.started}, finished {receipt.finished}")
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
        yield StepHeader(6, "Imported: remove the media")
        with VerticalScroll(classes="panel", id="receipt"):
            yield VerdictBadge("imported")
            yield Static(receipt_text(self.receipt, approver_names(self.transfer)),
                         id="receipt-text")
            yield DigestView(self.receipt.bundle_digest)
        yield Static("Transfer complete. Remove the media now.", classes="next-action")
        yield Footer()
