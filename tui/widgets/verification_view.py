"""The verdict of a verification, complete enough to decide on and to read aloud.

Signatures with signer, fingerprint, scheme and valid-or-why; every problem and warning;
the bundle digest in groups of four. Text from the media is shown as plain `Text`.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from tui.widgets.digest_view import DigestView
from tui.widgets.verdict_badge import VerdictBadge


def signature_line(check: Any) -> Text:
    """`✔ valid  release-2026  minisign  RWQ…  ` or `✘ not valid … because …`."""
    valid = bool(getattr(check, "valid", False))
    mark = "✔ valid    " if valid else "✘ NOT VALID"
    signer = getattr(check, "signer", None) or "unknown signer"
    scheme = getattr(check, "scheme", "")
    fingerprint = getattr(check, "fingerprint", None) or "-"
    line = Text(f"{mark}  {signer}  ({scheme}, key {fingerprint})")
    reason = getattr(check, "reason", None) or getattr(check, "problem", None)
    if not valid and reason:
        line.append(f"\n             why: {reason}")
    line.stylize("bold" if valid else "bold reverse", 0, len(mark))
    return line


class VerificationView(Vertical):
    """Badge, sentence, signatures, problems, warnings, digest."""

    def __init__(self, verification: Any, *, id: str | None = None) -> None:
        super().__init__(id=id, classes="verification-view")
        self.verification = verification

    def compose(self) -> ComposeResult:
        result = self.verification
        accepted = bool(result.accepted)
        yield VerdictBadge("accepted" if accepted else "rejected", id="verdict")
        if accepted:
            yield Static("Every file matches its checksum and a trusted key signed the list.",
                         classes="verdict-sentence")
        else:
            yield Static("This bundle must not be imported. The reasons are below.",
                         classes="verdict-sentence")
        yield Static("Signatures", classes="section-title")
        if result.signatures:
            for check in result.signatures:
                yield Static(signature_line(check), classes="signature-line")
        else:
            yield Static(Text("✘ no signature found"), classes="signature-line")
        if result.problems:
            yield Static(f"Problems ({len(result.problems)})", classes="section-title")
            for finding in result.problems:
                yield Static(Text(f"✘ {_where(finding)}{finding.message}"), classes="problem")
        if result.warnings:
            yield Static(f"Warnings ({len(result.warnings)})", classes="section-title")
            for finding in result.warnings:
                yield Static(Text(f"! {_where(finding)}{finding.message}"), classes="warning")
        yield DigestView(result.bundle_digest, id="bundle-digest")


def _where(finding: Any) -> str:
    return f"{finding.path}: " if getattr(finding, "path", None) else ""
